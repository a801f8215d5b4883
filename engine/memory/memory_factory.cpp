#include "memory/memory_factory.hpp"

#include "memory/dense_memory.hpp"
#include "memory/quest_memory.hpp"
#include "memory/sink_window_memory.hpp"
#include "qread/error.hpp"

namespace qread::memory {

std::unique_ptr<ContextMemory> make_memory(const AttentionConfig& config, std::int64_t layer,
                                           const model::Rope& rope, std::optional<QuestionSpan> question,
                                           const at::Device& device) {
  switch (config.mode) {
    case MemoryMode::origin: return std::make_unique<DenseMemory>(rope);
    case MemoryMode::stream_llm: return std::make_unique<StreamingLlmMemory>(rope, config.n_init, config.n_local);
    case MemoryMode::infinite_lm: return std::make_unique<LmInfiniteMemory>(rope, config.n_init, config.n_local);
    case MemoryMode::inf_llm: return std::make_unique<BlockMemory>(rope, config, std::nullopt, device);
    case MemoryMode::qllm: return std::make_unique<BlockMemory>(rope, config, question, device);
    case MemoryMode::quest:
      if (layer < config.dense_layers) return std::make_unique<DenseMemory>(rope);
      return std::make_unique<QuestMemory>(rope, config.page_size, config.token_budget);
  }
  throw Error("unknown context-memory mode");
}

}  // namespace qread::memory
