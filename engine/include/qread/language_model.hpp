// A language model loaded from a Hugging Face model folder, with generation. Plain C++ types
// only: the CLI and the UI use the engine through this header, never through LibTorch.
#pragma once

#include "qread/config.hpp"

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace qread {

using TokenId = std::int32_t;

struct ModelOptions {
  std::string device = "cpu";  // "cpu", "cuda", "cuda:N"
  std::string dtype = "auto";  // "auto" (bfloat16 on CUDA, float32 on CPU), "float32", "bfloat16", "float16"
  // RoPE overrides from the YAML config (`base`, `distance_scale`), as the reference allows.
  std::optional<double> rope_base;
  std::optional<double> rope_distance_scale;
};

struct ModelSummary {
  std::string architecture, model_type;
  std::int64_t layers = 0, hidden_size = 0, heads = 0, kv_heads = 0, head_dim = 0, vocab_size = 0;
  std::int64_t max_position_embeddings = 0;
  std::string rope_scaling;  // "none", "linear", "dynamic", "llama3"
  std::string device, dtype;
  std::int64_t parameters = 0;
  double load_seconds = 0;
};

struct SamplingOptions {
  double temperature = 0.0;  // 0: greedy
  double top_p = 1.0;
  int top_k = 0;  // 0: no limit
  std::uint64_t seed = 0;
};

struct GenerationOptions {
  int max_new_tokens = 256;
  std::int64_t chunk_size = 8192;  // prefill chunk
  SamplingOptions sampling;
  std::vector<TokenId> stop_ids;  // besides the model's eos ids
  bool stop_at_eos = true;
};

struct GenerationResult {
  std::vector<TokenId> tokens;  // generated, without the stop token
  std::string stop_reason;      // "eos", "max_new_tokens", "callback", "cancelled"
  std::vector<float> last_logits;  // logits after the last prompt token
  std::int64_t prompt_tokens = 0;
  double prefill_seconds = 0, decode_seconds = 0;
};

// [begin, end) token positions, e.g. of the question inside the prompt.
struct TokenSpan {
  std::int64_t begin = 0, end = 0;
};

// Which memory blocks one execution block of one layer retrieved.
struct BlockRetrieval {
  std::int64_t layer = 0;
  std::int64_t query_start = 0;              // absolute position of its first query
  std::vector<std::int64_t> block_starts;    // absolute first token of each retrieved block
};

// What the context memory did since the last report (InfLLM / Q-LLM; empty for other modes).
struct MemoryReport {
  std::string mode;
  std::int64_t block_size = 0;
  std::int64_t blocks = 0;  // memory blocks per layer now
  std::vector<std::int64_t> block_starts;  // each memory block's first token (the same in every layer)
  std::int64_t cache_hits = 0, cache_misses = 0, bytes_to_device = 0;
  // Blocks copied to the device ahead of the retrieval expected to want them (CUDA), and the
  // misses read from those copies instead of host memory.
  std::int64_t blocks_staged = 0, misses_staged = 0;
  std::vector<BlockRetrieval> retrievals;
};

// Bytes the context memories hold: in host RAM, and on the model's device (0 for a model on the
// CPU, whose memory is all host RAM).
struct ContextBytes {
  std::int64_t host = 0, device = 0;
};

// Called during prefill with (tokens done, tokens total).
using ProgressCallback = std::function<void(std::int64_t, std::int64_t)>;
// Called with each generated id; return false to stop.
using TokenCallback = std::function<bool(TokenId)>;

class LanguageModel {
 public:
  // Throws InputError naming the folder/file/tensor at fault; Error for device problems.
  static std::unique_ptr<LanguageModel> load(const std::filesystem::path& model_dir,
                                             const ModelOptions& options = {});
  // A model of a named shape with seeded random weights, made on the device (for benchmarks:
  // no download). Shapes: see model_shapes(). Throws InputError on an unknown shape.
  static std::unique_ptr<LanguageModel> random(const std::string& shape, const ModelOptions& options = {},
                                               std::uint64_t seed = 0);
  static std::vector<std::string> model_shapes();
  virtual ~LanguageModel() = default;

  virtual const ModelSummary& summary() const = 0;
  virtual const std::vector<TokenId>& eos_ids() const = 0;

  // Selects the context-memory mode of every layer (and the RoPE base/scale overrides of the
  // config); the context is lost. Q-LLM uses `question`, the question's tokens in the prompt.
  // The default after load is full attention with the model's own RoPE.
  virtual void configure_memory(const AttentionConfig& config, std::optional<TokenSpan> question) = 0;
  // Retrievals since the last call (which are then forgotten) and the counters so far.
  virtual MemoryReport memory_report() = 0;

  // What the context memories of all layers hold now (their keys, values and working buffers).
  virtual ContextBytes context_bytes() = 0;

  // Forget the context.
  virtual void reset() = 0;
  virtual std::int64_t context_length() const = 0;

  // Appends ids to the context in chunks of `chunk_size`; returns the float32 logits after the
  // last id. `progress` and `cancel` are looked at after every layer of every chunk; Cancelled
  // is thrown when `cancel` becomes true, and the context is then lost (reset).
  virtual std::vector<float> feed(std::span<const TokenId> ids, std::int64_t chunk_size,
                                  const ProgressCallback& progress = {},
                                  const std::atomic<bool>* cancel = nullptr) = 0;

  // The reference's protocol: reset, prefill prompt[0, n-1) in chunks, feed the last prompt id
  // alone, then sample one id at a time, feeding each back, until a stop id, max_new_tokens, the
  // callback returning false, or cancel.
  virtual GenerationResult generate(std::span<const TokenId> prompt, const GenerationOptions& options,
                                    const TokenCallback& on_token = {},
                                    const ProgressCallback& progress = {},
                                    const std::atomic<bool>* cancel = nullptr) = 0;
};

}  // namespace qread
