#include "qread/language_model.hpp"

#include "memory/block_memory.hpp"
#include "memory/memory_factory.hpp"
#include "model/gguf_model.hpp"
#include "model/model_config.hpp"
#include "model/safetensors.hpp"
#include "model/sampling.hpp"
#include "model/transformer.hpp"
#include "qread/error.hpp"
#include "qread/runtime.hpp"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <c10/core/InferenceMode.h>
#include <fmt/core.h>

#include <algorithm>
#include <chrono>

namespace qread {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

at::Device parse_device(const std::string& name) {
  if (name != "cpu" && name.rfind("cuda", 0) != 0)
    throw InputError(fmt::format("device '{}' is not supported (use cpu, cuda or cuda:N)", name));
  at::Device device(at::kCPU);
  try {
    device = at::Device(name);
  } catch (const std::exception&) {
    throw InputError(fmt::format("device '{}' is not a valid device name", name));
  }
  if (device.is_cuda() && !at::hasCUDA())
    throw InputError(fmt::format("device '{}': no CUDA device is available to this build", name));
  return device;
}

at::ScalarType parse_dtype(const std::string& name, const at::Device& device) {
  if (name == "auto") return device.is_cuda() ? at::kBFloat16 : at::kFloat;
  if (name == "float32") return at::kFloat;
  if (name == "bfloat16") return at::kBFloat16;
  if (name == "float16") return at::kHalf;
  throw InputError(fmt::format("dtype '{}' is not supported (use auto, float32, bfloat16, float16)", name));
}

const char* dtype_name(at::ScalarType t) {
  return t == at::kFloat ? "float32" : t == at::kBFloat16 ? "bfloat16" : t == at::kHalf ? "float16" : "?";
}

std::vector<float> to_vector(const at::Tensor& logits) {
  auto cpu = logits.to(at::kCPU, at::kFloat).contiguous();
  return {cpu.data_ptr<float>(), cpu.data_ptr<float>() + cpu.numel()};
}

std::int64_t parameter_count(const model::TransformerWeights& w) {
  std::int64_t n = w.embed.numel() + w.final_norm.numel();
  if (!w.lm_head.is_same(w.embed)) n += w.lm_head.numel();
  for (const auto& l : w.layers)
    for (const auto* t : {&l.input_norm, &l.post_attention_norm, &l.qkv, &l.qkv_bias, &l.o, &l.o_bias,
                          &l.gate_up, &l.gate_up_bias, &l.down, &l.down_bias})
      if (t->defined()) n += t->numel();
  return n;
}

class TorchLanguageModel final : public LanguageModel {
 public:
  // From a model folder.
  TorchLanguageModel(const std::filesystem::path& dir, const ModelOptions& options) {
    const auto start = Clock::now();
    init_runtime();
    const at::Device device = parse_device(options.device);
    const at::ScalarType dtype = parse_dtype(options.dtype, device);
    c10::NoGradGuard no_grad;
    if (const auto gguf = model::gguf_model_file(dir)) {
      const auto file = model::GgufFile::open(*gguf);
      auto config = model::config_from_gguf(*file);
      auto weights = model::load_weights(*file, config, device, dtype);
      finish(std::move(config), std::move(weights), options, device, dtype, start);
      return;
    }
    auto config = model::ModelConfig::load(dir);
    auto store = model::WeightStore::open(dir);
    auto weights = model::load_weights(store, config, device, dtype);
    finish(std::move(config), std::move(weights), options, device, dtype, start);
  }

  // Random weights of a named shape.
  TorchLanguageModel(const std::string& shape, const ModelOptions& options, std::uint64_t seed) {
    const auto start = Clock::now();
    init_runtime();
    auto config = model::shape_config(shape);
    const at::Device device = parse_device(options.device);
    const at::ScalarType dtype = parse_dtype(options.dtype, device);
    c10::NoGradGuard no_grad;
    auto weights = model::random_weights(config, device, dtype, seed);
    finish(std::move(config), std::move(weights), options, device, dtype, start);
  }

  ~TorchLanguageModel() override {
    model_.reset();
    memory::release_pinned_arenas();  // what its block stores kept for the next question
  }

  void finish(model::ModelConfig config, model::TransformerWeights weights, const ModelOptions& options,
              const at::Device& device, at::ScalarType dtype, Clock::time_point start) {
    auto rope = std::make_unique<model::Rope>(config, options.rope_base, options.rope_distance_scale, device);
    eos_ids_ = config.eos_token_ids;
    options_ = options;
    device_ = device;

    summary_.architecture = config.architecture;
    summary_.model_type = config.model_type;
    summary_.layers = config.num_layers;
    summary_.hidden_size = config.hidden_size;
    summary_.heads = config.num_heads;
    summary_.kv_heads = config.num_kv_heads;
    summary_.head_dim = config.head_dim;
    summary_.vocab_size = config.vocab_size;
    summary_.max_position_embeddings = config.max_position_embeddings;
    summary_.rope_scaling = model::rope_scaling_name(config.rope_scaling.kind);
    summary_.device = device.str();
    summary_.dtype = dtype_name(dtype);
    summary_.parameters = parameter_count(weights);
    model_ = std::make_unique<model::Transformer>(std::move(config), std::move(weights), std::move(rope));
    summary_.load_seconds = seconds_since(start);
  }

  const ModelSummary& summary() const override { return summary_; }
  const std::vector<TokenId>& eos_ids() const override { return eos_ids_; }
  void configure_memory(const AttentionConfig& config, std::optional<TokenSpan> question) override {
    if (config.perhead) throw InputError("perhead: true is not supported yet (retrieval is per layer)");
    c10::InferenceMode inference;
    std::optional<memory::QuestionSpan> span;
    if (question) span = memory::QuestionSpan{question->begin, question->end};
    // The reference's context-memory modes use a plain RoPE (no rope_scaling) with the config's
    // base; full attention and Quest (which keeps true positions) keep the model's own.
    const bool model_rope = config.mode == MemoryMode::origin || config.mode == MemoryMode::quest;
    auto rope = std::make_unique<model::Rope>(model_->config(), config.base ? config.base : options_.rope_base,
                                              config.distance_scale ? config.distance_scale : options_.rope_distance_scale,
                                              device_, model_rope);
    const at::Device device = device_;
    model_->set_memories(std::move(rope), [&](std::int64_t layer, const model::Rope& r) {
      return memory::make_memory(config, layer, r, span, device);
    });
    mode_ = mode_name(config.mode);
    block_size_ = config.block_size;
  }

  MemoryReport memory_report() override {
    c10::InferenceMode inference;
    MemoryReport report;
    report.mode = mode_;
    for (std::int64_t layer = 0; layer < model_->config().num_layers; ++layer) {
      auto* blocks = dynamic_cast<memory::BlockMemory*>(&model_->memory(layer));
      if (!blocks) continue;
      report.block_size = block_size_;
      report.blocks = blocks->store().size();
      if (layer == 0 || report.block_starts.empty())
        for (std::int64_t id = 0; id < report.blocks; ++id) report.block_starts.push_back(blocks->store().start_of(id));
      const auto& c = blocks->store().counters();
      report.cache_hits += c.cache_hits;
      report.cache_misses += c.cache_misses;
      report.bytes_to_device += c.bytes_to_device;
      report.blocks_staged += c.blocks_staged;
      report.misses_staged += c.misses_staged;
      for (const auto& r : blocks->retrievals()) {
        BlockRetrieval out{layer, r.query_start, {}};
        for (auto id : r.blocks) out.block_starts.push_back(blocks->store().start_of(id));
        report.retrievals.push_back(std::move(out));
      }
      blocks->clear_retrievals();
    }
    return report;
  }

  ContextBytes context_bytes() override {
    ContextBytes bytes;
    for (std::int64_t layer = 0; layer < model_->config().num_layers; ++layer) {
      const auto held = model_->memory(layer).held_bytes();
      bytes.host += held.host;
      bytes.device += held.device;
    }
    return bytes;
  }

  void reset() override {
    c10::InferenceMode inference;
    model_->reset();
  }
  std::int64_t context_length() const override { return model_->length(); }

  std::vector<float> feed(std::span<const TokenId> ids, std::int64_t chunk_size,
                          const ProgressCallback& progress, const std::atomic<bool>* cancel) override {
    if (ids.empty()) throw InputError("feed: no token ids");
    if (chunk_size <= 0) throw InputError(fmt::format("chunk_size must be positive, got {}", chunk_size));
    check_ids(ids);
    // Not only no gradients: no autograd bookkeeping at all (it made no measurable difference
    // on the H100 bench, where the GPU is the bottleneck, but there is none to pay for). State
    // made here is only touched under the same guard (reset, memory_report, configure_memory).
    c10::InferenceMode inference;
    auto all = at::tensor(std::vector<std::int64_t>(ids.begin(), ids.end()), at::kLong);
    at::Tensor logits;
    const auto total = std::int64_t(ids.size());
    const std::int64_t layers = model_->config().num_layers;
    for (std::int64_t start = 0; start < total; start += chunk_size) {
      if (cancel && cancel->load()) throw Cancelled();
      const auto n = std::min(chunk_size, total - start);
      // Progress and cancel after every layer, so that a long chunk on a slow device still
      // reports and stops promptly; a chunk stopped half-way leaves no usable context.
      auto after_layer = [&](std::int64_t layer) {
        if (cancel && cancel->load()) {
          model_->reset();
          throw Cancelled();
        }
        if (progress && layer + 1 < layers) progress(start + n * (layer + 1) / layers, total);
      };
      logits = model_->forward(all.narrow(0, start, n), false,
                               (progress || cancel) && n > 1 ? std::function<void(std::int64_t)>(after_layer)
                                                             : std::function<void(std::int64_t)>());
      if (progress) progress(start + n, total);
    }
    return to_vector(logits);
  }

  GenerationResult generate(std::span<const TokenId> prompt, const GenerationOptions& options,
                            const TokenCallback& on_token, const ProgressCallback& progress,
                            const std::atomic<bool>* cancel) override {
    if (prompt.empty()) throw InputError("generate: the prompt has no tokens");
    if (options.max_new_tokens < 0)
      throw InputError(fmt::format("max_new_tokens must be >= 0, got {}", options.max_new_tokens));
    GenerationResult result;
    result.prompt_tokens = std::int64_t(prompt.size());
    reset();
    auto start = Clock::now();
    if (prompt.size() > 1) feed(prompt.first(prompt.size() - 1), options.chunk_size, progress, cancel);
    std::vector<float> logits = feed(prompt.last(1), 1, {}, cancel);
    if (progress) progress(result.prompt_tokens, result.prompt_tokens);
    result.last_logits = logits;
    result.prefill_seconds = seconds_since(start);

    start = Clock::now();
    std::vector<TokenId> stops = options.stop_ids;
    if (options.stop_at_eos) stops.insert(stops.end(), eos_ids_.begin(), eos_ids_.end());
    model::Sampler sampler(options.sampling);
    result.stop_reason = "max_new_tokens";
    for (int i = 0; i < options.max_new_tokens; ++i) {
      if (cancel && cancel->load()) {
        result.stop_reason = "cancelled";
        break;
      }
      const TokenId next = sampler.next(logits);
      if (std::find(stops.begin(), stops.end(), next) != stops.end()) {
        result.stop_reason = "eos";
        break;
      }
      result.tokens.push_back(next);
      if (on_token && !on_token(next)) {
        result.stop_reason = "callback";
        break;
      }
      if (i + 1 == options.max_new_tokens) break;  // no need to run the last token through
      const TokenId one[] = {next};
      logits = feed(one, 1, {}, nullptr);
    }
    result.decode_seconds = seconds_since(start);
    return result;
  }

 private:
  void check_ids(std::span<const TokenId> ids) const {
    for (std::size_t i = 0; i < ids.size(); ++i)
      if (ids[i] < 0 || ids[i] >= summary_.vocab_size)
        throw InputError(fmt::format("token id {} at position {} is outside the vocabulary [0, {})",
                                     ids[i], i, summary_.vocab_size));
  }

  ModelSummary summary_;
  ModelOptions options_;
  at::Device device_{at::kCPU};
  std::string mode_ = "origin";
  std::int64_t block_size_ = 0;
  std::vector<TokenId> eos_ids_;
  std::unique_ptr<model::Transformer> model_;
};

}  // namespace

std::unique_ptr<LanguageModel> LanguageModel::load(const std::filesystem::path& model_dir,
                                                   const ModelOptions& options) {
  return std::make_unique<TorchLanguageModel>(model_dir, options);
}

std::unique_ptr<LanguageModel> LanguageModel::random(const std::string& shape, const ModelOptions& options,
                                                     std::uint64_t seed) {
  return std::make_unique<TorchLanguageModel>(shape, options, seed);
}

std::vector<std::string> LanguageModel::model_shapes() { return model::shape_names(); }

}  // namespace qread
