// The decoder-only transformer of Llama, Mistral and Qwen2: embeddings, then per layer RMSNorm,
// grouped-query attention through the layer's context memory, RMSNorm, SwiGLU MLP; final norm and
// the LM head. A model is data (a config and named tensors) plus this one forward function.
#pragma once

#include "memory/context_memory.hpp"
#include "model/model_config.hpp"
#include "model/rope.hpp"

#include <ATen/core/Tensor.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <vector>

namespace qread::model {

class WeightStore;
class GgufFile;

struct LayerWeights {
  at::Tensor input_norm, post_attention_norm;
  at::Tensor qkv, qkv_bias;   // q, k, v projections stacked: [(Hq + 2 Hkv) D, hidden]
  at::Tensor o, o_bias;       // [hidden, Hq D]
  at::Tensor gate_up, gate_up_bias;  // gate and up stacked: [2 I, hidden]
  at::Tensor down, down_bias;        // [hidden, I]
};

struct TransformerWeights {
  at::Tensor embed;       // [vocab, hidden]
  std::vector<LayerWeights> layers;
  at::Tensor final_norm;
  at::Tensor lm_head;     // [vocab, hidden]; the embedding itself when tied
};

// Reads the tensors of `store` named as Hugging Face names them, converting each to `dtype` on
// `device` one at a time (never a second full copy in host RAM). Throws InputError naming the
// tensor on a missing tensor or a shape that disagrees with the config.
TransformerWeights load_weights(const WeightStore& store, const ModelConfig& config,
                                const at::Device& device, at::ScalarType dtype);
// The same from a GGUF file: each tensor dequantized to float32 on the host, then converted.
TransformerWeights load_weights(const GgufFile& file, const ModelConfig& config, const at::Device& device,
                                at::ScalarType dtype);

// Random weights of the config's shape on the device, N(0, 0.02) (norms 1), for benchmarks.
TransformerWeights random_weights(const ModelConfig& config, const at::Device& device,
                                  at::ScalarType dtype, std::uint64_t seed);

// Configs of well-known shapes: "llama3-8b", "mistral-7b", "qwen2-7b", "tiny".
ModelConfig shape_config(const std::string& name);
std::vector<std::string> shape_names();

class Transformer {
 public:
  using MemoryFactory =
      std::function<std::unique_ptr<memory::ContextMemory>(std::int64_t layer, const Rope& rope)>;

  // `memory_for_layer` makes each layer's context memory (dense when empty).
  Transformer(ModelConfig config, TransformerWeights weights, std::unique_ptr<Rope> rope,
              const MemoryFactory& memory_for_layer = {});

  // Runs ids ([T], int64, on any device) through the model after everything fed so far. Returns
  // float32 logits [T, vocab] when `all_logits`, else [vocab] for the last id only (the LM head
  // is the largest matrix: prefill skips it for all other positions). `after_layer`, when given,
  // is called with each layer's index once it is done (progress, cancel: it may throw, and the
  // context is then inconsistent until reset()).
  at::Tensor forward(const at::Tensor& ids, bool all_logits = false,
                     const std::function<void(std::int64_t)>& after_layer = {});

  // Replaces every layer's context memory (and the RoPE they use); the context is lost.
  void set_memories(std::unique_ptr<Rope> rope, const MemoryFactory& memory_for_layer);

  void reset();
  std::int64_t length() const;
  const ModelConfig& config() const { return config_; }
  const Rope& rope() const { return *rope_; }
  at::Device device() const { return weights_.embed.device(); }
  at::ScalarType dtype() const { return weights_.embed.scalar_type(); }
  memory::ContextMemory& memory(std::int64_t layer) { return *memories_[layer]; }

  // Decoding one token at a time with full attention on CUDA replays a captured CUDA graph of
  // the whole step (one launch instead of ~20 per layer; the step is otherwise bound by the
  // host launching kernels). With memories that keep no views of their inputs (InfLLM, Q-LLM),
  // whose attention cannot be captured, each layer's work before and after attention is a
  // captured graph (two launches instead of about ten). On by default; QREAD_CUDA_GRAPHS=0 in
  // the environment turns both off.
  void set_decode_graphs(bool on);
  bool decode_graphs() const { return decode_graphs_; }

  ~Transformer();

 private:
  struct DecodeGraph;
  struct LayerGraphs;
  using Attend = std::function<at::Tensor(std::int64_t layer, const at::Tensor& q, const at::Tensor& k,
                                          const at::Tensor& v)>;
  at::Tensor layers(at::Tensor x, const Attend& attend, const std::function<void(std::int64_t)>& after_layer);
  // A layer's work before attention: x [T, hidden] -> the q, k, v projections [T, (Hq + 2 Hkv) D].
  at::Tensor before_attention(std::int64_t layer, const at::Tensor& x) const;
  // And after it: x and the attention output [T, Hq * D] -> the layer's output [T, hidden].
  at::Tensor after_attention(std::int64_t layer, const at::Tensor& x, const at::Tensor& attn) const;
  // One token through the per-layer graphs, or an undefined tensor where they do not apply.
  at::Tensor layer_graph_step(const at::Tensor& ids, const std::function<void(std::int64_t)>& after_layer);
  at::Tensor logits(const at::Tensor& hidden) const;
  // One token through the captured graph, or an undefined tensor where it does not apply.
  at::Tensor graph_step(const at::Tensor& ids);

  ModelConfig config_;
  TransformerWeights weights_;
  std::unique_ptr<Rope> rope_;
  std::vector<std::unique_ptr<memory::ContextMemory>> memories_;
  bool decode_graphs_;
  std::unique_ptr<DecodeGraph> graph_;
  std::unique_ptr<LayerGraphs> layer_graphs_;  // depend on the weights only: kept across resets
};

// HF RMSNorm: normalise in float32, cast back, then scale by the weight in the model dtype.
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps);

}  // namespace qread::model
