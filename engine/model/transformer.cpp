#include "model/transformer.hpp"

#include "memory/dense_memory.hpp"
#include "memory/phase_profile.hpp"
#include "model/fused_ops.hpp"
#include "model/gguf_model.hpp"
#include "model/safetensors.hpp"
#include "qread/error.hpp"

#include <ATen/ATen.h>
#include <fmt/core.h>
#include <fmt/ranges.h>

#include <cstdlib>
#include <functional>
#include <string_view>

#ifdef QREAD_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#endif

namespace qread::model {
namespace {

at::ScalarType scalar_type_of(DType dtype, const TensorView& view) {
  switch (dtype) {
    case DType::F32: return at::kFloat;
    case DType::F16: return at::kHalf;
    case DType::BF16: return at::kBFloat16;
    case DType::F64: return at::kDouble;
    default:
      throw InputError(fmt::format("{}: tensor '{}' has dtype {}, expected a floating type",
                                   view.file.string(), view.name, dtype_name(dtype)));
  }
}

// Where weights come from: a view (or a fresh CPU tensor) per Hugging Face name.
class Loader {
 public:
  using View = std::function<at::Tensor(const std::string& name, const std::vector<std::int64_t>& shape)>;
  using Has = std::function<bool(const std::string& name)>;
  Loader(View view, Has has, const at::Device& device, at::ScalarType dtype)
      : view_(std::move(view)), has_(std::move(has)), device_(device), dtype_(dtype) {}

  bool has(const std::string& name) const { return has_(name); }

  at::Tensor load(const std::string& name, const std::vector<std::int64_t>& shape) const {
    // clone() only when .to() would alias the source (same dtype, CPU): it may be a read-only map.
    auto src = view_(name, shape);
    auto out = src.to(device_, dtype_);
    return out.data_ptr() == src.data_ptr() ? out.clone() : out;
  }

  // Several matrices stacked along rows, written straight into one tensor on the device.
  at::Tensor stacked(const std::vector<std::pair<std::string, std::vector<std::int64_t>>>& parts) const {
    std::int64_t rows = 0;
    for (const auto& [name, shape] : parts) rows += shape[0];
    std::vector<std::int64_t> out_shape = parts.front().second;
    out_shape[0] = rows;
    auto out = at::empty(out_shape, at::TensorOptions().device(device_).dtype(dtype_));
    std::int64_t row = 0;
    for (const auto& [name, shape] : parts) {
      out.narrow(0, row, shape[0]).copy_(view_(name, shape));
      row += shape[0];
    }
    return out;
  }

 private:
  View view_;
  Has has_;
  at::Device device_;
  at::ScalarType dtype_;
};

std::string shape_text(const std::vector<std::int64_t>& shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

TransformerWeights load_with(const Loader& L, const ModelConfig& c);

}  // namespace

TransformerWeights load_weights(const WeightStore& store, const ModelConfig& c, const at::Device& device,
                                at::ScalarType dtype) {
  // Views of the mapped bytes as CPU tensors (no copy).
  auto view = [&](const std::string& name, const std::vector<std::int64_t>& shape) {
    const TensorView& t = store.get(name);
    if (t.shape != shape)
      throw InputError(fmt::format("{}: tensor '{}' has shape {}, the config implies {}", t.file.string(), name,
                                   shape_text(t.shape), shape_text(shape)));
    return at::from_blob(const_cast<std::byte*>(t.bytes.data()), t.shape,
                         at::TensorOptions().dtype(scalar_type_of(t.dtype, t)));
  };
  auto has = [&](const std::string& name) { return store.find(name) != nullptr; };
  auto weights = load_with(Loader(view, has, device, dtype), c);
  if (!c.tie_word_embeddings && !weights.lm_head.defined()) store.get("lm_head.weight");  // names it
  return weights;
}

TransformerWeights load_weights(const GgufFile& file, const ModelConfig& c, const at::Device& device,
                                at::ScalarType dtype) {
  // Dequantized to float32 on the host one tensor at a time, then converted on the device.
  auto view = [&](const std::string& name, const std::vector<std::int64_t>& shape) {
    std::vector<std::int64_t> stored;
    auto values = gguf_tensor_as_hf(file, c, name, &stored);
    if (stored != shape)
      throw InputError(fmt::format("{}: tensor for '{}' has shape {}, the metadata implies {}", file.path().string(),
                                   name, shape_text(stored), shape_text(shape)));
    return at::from_blob(values.data(), stored, at::TensorOptions().dtype(at::kFloat)).clone();
  };
  auto has = [&](const std::string& name) {
    const auto g = gguf_tensor_name(name);
    return !g.empty() && file.find_tensor(g) != nullptr;
  };
  return load_with(Loader(view, has, device, dtype), c);
}

namespace {
TransformerWeights load_with(const Loader& L, const ModelConfig& c) {
  const std::int64_t H = c.hidden_size, D = c.head_dim, q_out = c.num_heads * D,
                     kv_out = c.num_kv_heads * D, I = c.intermediate_size;
  TransformerWeights w;
  w.embed = L.load("model.embed_tokens.weight", {c.vocab_size, H});
  for (std::int64_t i = 0; i < c.num_layers; ++i) {
    const std::string p = fmt::format("model.layers.{}.", i);
    LayerWeights l;
    l.input_norm = L.load(p + "input_layernorm.weight", {H});
    l.post_attention_norm = L.load(p + "post_attention_layernorm.weight", {H});
    l.qkv = L.stacked({{p + "self_attn.q_proj.weight", {q_out, H}},
                       {p + "self_attn.k_proj.weight", {kv_out, H}},
                       {p + "self_attn.v_proj.weight", {kv_out, H}}});
    if (c.qkv_bias)
      l.qkv_bias = L.stacked({{p + "self_attn.q_proj.bias", {q_out}},
                              {p + "self_attn.k_proj.bias", {kv_out}},
                              {p + "self_attn.v_proj.bias", {kv_out}}});
    l.o = L.load(p + "self_attn.o_proj.weight", {H, q_out});
    if (c.o_bias) l.o_bias = L.load(p + "self_attn.o_proj.bias", {H});
    l.gate_up = L.stacked({{p + "mlp.gate_proj.weight", {I, H}}, {p + "mlp.up_proj.weight", {I, H}}});
    l.down = L.load(p + "mlp.down_proj.weight", {H, I});
    if (c.mlp_bias) {
      l.gate_up_bias = L.stacked({{p + "mlp.gate_proj.bias", {I}}, {p + "mlp.up_proj.bias", {I}}});
      l.down_bias = L.load(p + "mlp.down_proj.bias", {H});
    }
    w.layers.push_back(std::move(l));
  }
  w.final_norm = L.load("model.norm.weight", {H});
  if (c.tie_word_embeddings)
    w.lm_head = w.embed;
  else if (L.has("lm_head.weight"))
    w.lm_head = L.load("lm_head.weight", {c.vocab_size, H});
  return w;
}
}  // namespace

TransformerWeights random_weights(const ModelConfig& c, const at::Device& device, at::ScalarType dtype,
                                  std::uint64_t seed) {
  at::manual_seed(seed);
  auto opts = at::TensorOptions().device(device).dtype(dtype);
  auto normal = [&](std::vector<std::int64_t> shape) { return at::randn(shape, opts).mul_(0.02); };
  auto ones = [&](std::int64_t n) { return at::ones({n}, opts); };
  const std::int64_t H = c.hidden_size, D = c.head_dim, I = c.intermediate_size,
                     qkv = (c.num_heads + 2 * c.num_kv_heads) * D;
  TransformerWeights w;
  w.embed = normal({c.vocab_size, H});
  for (std::int64_t i = 0; i < c.num_layers; ++i) {
    LayerWeights l;
    l.input_norm = ones(H);
    l.post_attention_norm = ones(H);
    l.qkv = normal({qkv, H});
    if (c.qkv_bias) l.qkv_bias = normal({qkv});
    l.o = normal({H, c.num_heads * D});
    l.gate_up = normal({2 * I, H});
    l.down = normal({H, I});
    w.layers.push_back(std::move(l));
  }
  w.final_norm = ones(H);
  w.lm_head = c.tie_word_embeddings ? w.embed : normal({c.vocab_size, H});
  return w;
}

namespace {
ModelConfig shape(std::string arch, std::string type, std::int64_t vocab, std::int64_t hidden,
                  std::int64_t inter, std::int64_t layers, std::int64_t heads, std::int64_t kv_heads,
                  double theta, std::int64_t max_pos) {
  ModelConfig c;
  c.architecture = std::move(arch);
  c.model_type = std::move(type);
  c.vocab_size = vocab;
  c.hidden_size = hidden;
  c.intermediate_size = inter;
  c.num_layers = layers;
  c.num_heads = heads;
  c.num_kv_heads = kv_heads;
  c.head_dim = hidden / heads;
  c.rope_theta = theta;
  c.max_position_embeddings = max_pos;
  c.rms_norm_eps = 1e-5;
  c.qkv_bias = c.model_type == "qwen2";
  c.torch_dtype = "bfloat16";
  return c;
}
}  // namespace

std::vector<std::string> shape_names() { return {"llama3-8b", "mistral-7b", "qwen2-7b", "tiny"}; }

ModelConfig shape_config(const std::string& name) {
  if (name == "llama3-8b") return shape("LlamaForCausalLM", "llama", 128256, 4096, 14336, 32, 32, 8, 500000.0, 8192);
  if (name == "mistral-7b") return shape("MistralForCausalLM", "mistral", 32000, 4096, 14336, 32, 32, 8, 1000000.0, 32768);
  if (name == "qwen2-7b") return shape("Qwen2ForCausalLM", "qwen2", 152064, 3584, 18944, 28, 28, 4, 1000000.0, 32768);
  if (name == "tiny") return shape("LlamaForCausalLM", "llama", 512, 256, 688, 2, 4, 2, 10000.0, 4096);
  throw InputError(fmt::format("shape '{}' is not one of {}", name, fmt::join(shape_names(), ", ")));
}

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  if (auto fused = fused_rms_norm(x, weight, eps); fused.defined()) return fused;
  auto xf = x.to(at::kFloat);
  auto normed = xf * at::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true) + eps);
  return weight * normed.to(x.scalar_type());
}

namespace {
bool graphs_by_default() {
  const char* env = std::getenv("QREAD_CUDA_GRAPHS");
  return !env || std::string_view(env) != "0";
}
}  // namespace

#ifdef QREAD_WITH_CUDA
struct Transformer::DecodeGraph {
  at::cuda::CUDAGraph graph;
  at::Tensor id, position, logits;
  at::Tensor cos_table, sin_table, slots;  // held: the graph reads them
  std::int64_t capacity = 0;
  std::vector<const void*> storage;  // each layer's cache when captured
};
struct Transformer::LayerGraphs {
  // Per layer: the graph before attention (reads x[i], writes qkv[i]) and after it (reads x[i]
  // and attn[i], writes x[i + 1]); x[0] takes the token's embedding. One memory pool for all.
  std::vector<std::unique_ptr<at::cuda::CUDAGraph>> before, after;
  std::vector<at::Tensor> x, qkv, attn;
};
#else
struct Transformer::DecodeGraph {};
struct Transformer::LayerGraphs {};
#endif

Transformer::Transformer(ModelConfig config, TransformerWeights weights, std::unique_ptr<Rope> rope,
                         const MemoryFactory& memory_for_layer)
    : config_(std::move(config)), weights_(std::move(weights)), decode_graphs_(graphs_by_default()) {
  set_memories(std::move(rope), memory_for_layer);
}

Transformer::~Transformer() = default;

void Transformer::set_decode_graphs(bool on) {
  decode_graphs_ = on;
  if (!on) {
    graph_.reset();
    layer_graphs_.reset();
  }
}

void Transformer::set_memories(std::unique_ptr<Rope> rope, const MemoryFactory& memory_for_layer) {
  graph_.reset();
  memories_.clear();
  rope_ = std::move(rope);
  for (std::int64_t i = 0; i < config_.num_layers; ++i)
    memories_.push_back(memory_for_layer ? memory_for_layer(i, *rope_)
                                         : std::make_unique<memory::DenseMemory>(*rope_));
}

void Transformer::reset() {
  graph_.reset();
  for (auto& m : memories_) m->reset();
}

std::int64_t Transformer::length() const { return memories_.empty() ? 0 : memories_.front()->length(); }

at::Tensor Transformer::logits(const at::Tensor& hidden) const {
  return at::matmul(rms_norm(hidden, weights_.final_norm, config_.rms_norm_eps), weights_.lm_head.t())
      .to(at::kFloat);
}

at::Tensor Transformer::before_attention(std::int64_t layer, const at::Tensor& x) const {
  const LayerWeights& l = weights_.layers[std::size_t(layer)];
  auto h = rms_norm(x, l.input_norm, config_.rms_norm_eps);
  return l.qkv_bias.defined() ? at::addmm(l.qkv_bias, h, l.qkv.t()) : at::matmul(h, l.qkv.t());
}

at::Tensor Transformer::after_attention(std::int64_t layer, const at::Tensor& x, const at::Tensor& attn) const {
  const LayerWeights& l = weights_.layers[std::size_t(layer)];
  const std::int64_t I = config_.intermediate_size;
  // Residual adds folded into the products where there is no bias (one op less each).
  auto y = l.o_bias.defined() ? x + at::addmm(l.o_bias, attn, l.o.t()) : at::addmm(x, attn, l.o.t());
  auto h = rms_norm(y, l.post_attention_norm, config_.rms_norm_eps);
  auto gate_up = l.gate_up_bias.defined() ? at::addmm(l.gate_up_bias, h, l.gate_up.t()) : at::matmul(h, l.gate_up.t());
  // SiLU(gate) * up in place, in the gate's half: the two [T, I] temporaries it made were the
  // prefill's peak (Llama-3-8B shape, chunks of 8K: 2 x 235 MB). The product reads the half with
  // its row stride, without a copy; on CUDA one kernel (ATen's two ops take its strided,
  // element-at-a-time kernel on these halves).
  auto act = gate_up.narrow(1, 0, I), up = gate_up.narrow(1, I, I);
  if (!fused_silu_mul(act, up).defined()) at::silu_(act).mul_(up);
  return l.down_bias.defined() ? y + at::addmm(l.down_bias, act, l.down.t()) : at::addmm(y, act, l.down.t());
}

namespace {
// [T, heads * D] columns [offset * D, (offset + n) * D) -> [1, n, T, D] (a view).
at::Tensor head_view(const at::Tensor& qkv, std::int64_t offset, std::int64_t n, std::int64_t D) {
  const std::int64_t T = qkv.size(0);
  return qkv.narrow(1, offset * D, n * D).view({T, n, D}).transpose(0, 1).unsqueeze(0);
}
}  // namespace

at::Tensor Transformer::layers(at::Tensor x, const Attend& attend,
                               const std::function<void(std::int64_t)>& after_layer) {
  const std::int64_t T = x.size(0), Hq = config_.num_heads, Hkv = config_.num_kv_heads, D = config_.head_dim;
  for (std::int64_t i = 0; i < config_.num_layers; ++i) {
    auto qkv = before_attention(i, x);
    auto attn = attend(i, head_view(qkv, 0, Hq, D), head_view(qkv, Hq, Hkv, D), head_view(qkv, Hq + Hkv, Hkv, D));
    x = after_attention(i, x, attn.squeeze(0).transpose(0, 1).reshape({T, Hq * D}));
    if (after_layer) after_layer(i);
  }
  return x;
}

at::Tensor Transformer::forward(const at::Tensor& ids, bool all_logits,
                                const std::function<void(std::int64_t)>& after_layer) {
  if (ids.numel() == 1 && !all_logits && !after_layer)
    if (auto out = graph_step(ids); out.defined()) return out;
  if (ids.numel() == 1 && !all_logits)
    if (auto out = layer_graph_step(ids, after_layer); out.defined()) return out;
  memory::PhaseScope forward_scope("forward, eager (all)");
  auto x = at::embedding(weights_.embed, ids.to(device(), at::kLong));  // [T, hidden]
  x = layers(
      x, [this](std::int64_t i, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
        memory::PhaseScope scope("attention (all)");
        return memories_[i]->attend(q, k, v);
      },
      after_layer);
  const std::int64_t T = ids.size(0);
  return all_logits ? logits(x) : logits(x.narrow(0, T - 1, 1)).squeeze(0);
}

#ifdef QREAD_WITH_CUDA
at::Tensor Transformer::graph_step(const at::Tensor& ids) {
  if (!decode_graphs_ || !device().is_cuda()) return {};
  const std::int64_t position = length();
  std::vector<memory::DenseMemory*> dense;
  for (auto& m : memories_) {
    auto* d = dynamic_cast<memory::DenseMemory*>(m.get());
    if (!d || d->length() != position) return {};
    dense.push_back(d);
  }
  auto captured_storage = [&] {
    std::vector<const void*> s;
    for (auto* d : dense) s.push_back(d->storage());
    return s;
  };
  if (!graph_ || position >= graph_->capacity || graph_->storage != captured_storage()) {
    graph_.reset();  // frees the old graph's memory pool before a new capture
    // Room for a while: a new capture (tens of ms) every quarter of the context or 1024 tokens.
    const std::int64_t capacity = (position + std::max<std::int64_t>(1024, position / 4) + 255) / 256 * 256;
    if (position == 0) return {};
    for (auto* d : dense)
      if (!d->reserve(capacity)) return {};
    // The caches may hold more than asked (they grow by doubling while reading): the graph
    // serves every position they hold, so the RoPE table must cover them all.
    auto g = std::make_unique<DecodeGraph>();
    g->capacity = dense.front()->capacity();
    for (auto* d : dense)
      if (d->capacity() != g->capacity) return {};
    if (!rope_->fixed_table(g->capacity)) return {};
    auto long_opts = at::TensorOptions().device(device()).dtype(at::kLong);
    g->id = at::zeros({1}, long_opts);
    g->position = at::full({1}, position, long_opts);
    std::tie(g->cos_table, g->sin_table) = rope_->cos_sin(0, g->capacity);
    g->slots = at::arange(g->capacity, long_opts);
    auto step = [&] {
      memory::DenseMemory::Step s{g->position, g->cos_table.index_select(0, g->position),
                                  g->sin_table.index_select(0, g->position), g->slots <= g->position};
      auto x = layers(
          at::embedding(weights_.embed, g->id),
          [&](std::int64_t i, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
            return dense[i]->attend_step(q, k, v, s);
          },
          {});
      return logits(x).squeeze(0);
    };
    // Captured on a side stream after one eager run there (cuBLAS and the allocator set up
    // what they need outside the capture); the eager run writes the same slot the replay will.
    at::cuda::getCurrentCUDAStream().synchronize();
    {
      at::cuda::CUDAStreamGuard guard(at::cuda::getStreamFromPool());
      step();
      at::cuda::getCurrentCUDAStream().synchronize();
      g->graph.capture_begin();
      g->logits = step();
      g->graph.capture_end();
      at::cuda::getCurrentCUDAStream().synchronize();
    }
    g->storage = captured_storage();
    graph_ = std::move(g);
  }
  graph_->id.fill_(ids.reshape({1}).to(at::kCPU).item<std::int64_t>());
  graph_->position.fill_(position);
  graph_->graph.replay();
  for (auto* d : dense) d->advance();
  return graph_->logits.clone();  // the next replay overwrites the graph's own
}

at::Tensor Transformer::layer_graph_step(const at::Tensor& ids, const std::function<void(std::int64_t)>& after_layer) {
  if (!decode_graphs_ || !device().is_cuda()) return {};
  for (const auto& m : memories_)
    if (m->keeps_input_views()) return {};
  const std::int64_t L = config_.num_layers, Hq = config_.num_heads, Hkv = config_.num_kv_heads, D = config_.head_dim;
  if (!layer_graphs_) {
    auto g = std::make_unique<LayerGraphs>();
    auto opts = weights_.embed.options();
    g->x.push_back(at::zeros({1, config_.hidden_size}, opts));
    // Captured on a side stream after one eager run of each part there (cuBLAS and the
    // allocator set up what they need outside the capture).
    at::cuda::getCurrentCUDAStream().synchronize();
    {
      at::cuda::CUDAStreamGuard guard(at::cuda::getStreamFromPool());
      for (std::int64_t i = 0; i < L; ++i) {
        g->attn.push_back(at::zeros({1, Hq * D}, opts));
        before_attention(i, g->x[std::size_t(i)]);
        after_attention(i, g->x[std::size_t(i)], g->attn.back());
        at::cuda::getCurrentCUDAStream().synchronize();
        for (auto* list : {&g->before, &g->after}) list->push_back(std::make_unique<at::cuda::CUDAGraph>());
        if (i == 0)
          g->before.back()->capture_begin();
        else
          g->before.back()->capture_begin(g->before.front()->pool());
        g->qkv.push_back(before_attention(i, g->x[std::size_t(i)]));
        g->before.back()->capture_end();
        g->after.back()->capture_begin(g->before.front()->pool());
        g->x.push_back(after_attention(i, g->x[std::size_t(i)], g->attn.back()));
        g->after.back()->capture_end();
      }
      at::cuda::getCurrentCUDAStream().synchronize();
    }
    layer_graphs_ = std::move(g);
  }
  memory::PhaseScope forward_scope("forward, layer graphs (all)");
  LayerGraphs& g = *layer_graphs_;
  g.x.front().copy_(at::embedding(weights_.embed, ids.to(device(), at::kLong)));
  for (std::int64_t i = 0; i < L; ++i) {
    const auto at = std::size_t(i);
    g.before[at]->replay();
    at::Tensor attn;
    {
      memory::PhaseScope scope("attention (all)");
      // Views of the graph's buffer: the memory copies what it keeps (keeps_input_views()).
      attn = memories_[at]->attend(head_view(g.qkv[at], 0, Hq, D), head_view(g.qkv[at], Hq, Hkv, D),
                                   head_view(g.qkv[at], Hq + Hkv, Hkv, D));
    }
    g.attn[at].copy_(attn.reshape({1, Hq * D}));  // [1, Hq, 1, D]: the same order
    g.after[at]->replay();
    if (after_layer) after_layer(i);
  }
  return logits(g.x.back()).squeeze(0);
}
#else
at::Tensor Transformer::graph_step(const at::Tensor&) { return {}; }
at::Tensor Transformer::layer_graph_step(const at::Tensor&, const std::function<void(std::int64_t)>&) { return {}; }
#endif

}  // namespace qread::model
