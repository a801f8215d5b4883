#include "qread/model_maker.hpp"

#include "model/model_config.hpp"
#include "model/safetensors.hpp"
#include "qread/tokenizer.hpp"
#include "model/tokenizer_training.hpp"
#include "qread/error.hpp"

#include <fmt/core.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

namespace qread {
namespace {

using model::DType;
using model::TensorData;

std::uint16_t to_bfloat16(float f) {
  // Round to nearest even on the upper 16 bits (NaN stays NaN).
  std::uint32_t bits = std::bit_cast<std::uint32_t>(f);
  if (std::isnan(f)) return 0x7fc0;
  bits += 0x7fff + ((bits >> 16) & 1);
  return std::uint16_t(bits >> 16);
}

std::uint16_t to_float16(float f) {
  // IEEE half from float, round to nearest even; enough range for small random weights.
  std::uint32_t x = std::bit_cast<std::uint32_t>(f);
  const std::uint32_t sign = (x >> 16) & 0x8000;
  x &= 0x7fffffff;
  if (x >= 0x47800000) return std::uint16_t(sign | 0x7c00 | (x > 0x7f800000 ? 0x200 : 0));
  if (x < 0x38800000) {  // subnormal or zero
    const float magnitude = std::bit_cast<float>(x);
    return std::uint16_t(sign | std::uint16_t(std::nearbyint(magnitude * 16777216.0f)));
  }
  std::uint32_t half = ((x - 0x38000000) >> 13);
  const std::uint32_t rest = x & 0x1fff;
  if (rest > 0x1000 || (rest == 0x1000 && (half & 1))) ++half;
  return std::uint16_t(sign | half);
}

class Writer {
 public:
  Writer(DType dtype, std::uint64_t seed) : dtype_(dtype), rng_(seed) {}

  void normal(const std::string& name, std::vector<std::int64_t> shape, float std_dev, float mean = 0.f) {
    std::normal_distribution<float> dist(mean, std_dev);
    std::int64_t n = 1;
    for (auto d : shape) n *= d;
    std::vector<float> values(n);
    for (auto& v : values) v = dist(rng_);
    add(name, std::move(shape), values);
  }

  void add(const std::string& name, std::vector<std::int64_t> shape, const std::vector<float>& values) {
    TensorData t{name, dtype_, std::move(shape), {}};
    const std::size_t size = model::dtype_size(dtype_);
    t.bytes.resize(values.size() * size);
    for (std::size_t i = 0; i < values.size(); ++i) {
      if (dtype_ == DType::F32) {
        std::memcpy(&t.bytes[i * 4], &values[i], 4);
      } else {
        const std::uint16_t h = dtype_ == DType::BF16 ? to_bfloat16(values[i]) : to_float16(values[i]);
        std::memcpy(&t.bytes[i * 2], &h, 2);
      }
    }
    tensors_.push_back(std::move(t));
  }

  const std::vector<TensorData>& tensors() const { return tensors_; }

 private:
  DType dtype_;
  std::mt19937_64 rng_;
  std::vector<TensorData> tensors_;
};

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(fmt::format("{}: cannot open the tokenizer corpus", path.string()));
  std::ostringstream s;
  s << in.rdbuf();
  if (s.str().empty()) throw InputError(fmt::format("{}: the tokenizer corpus is empty", path.string()));
  return s.str();
}

void write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  if (!out) throw Error(fmt::format("{}: cannot write", path.string()));
}

}  // namespace

void make_model(const std::filesystem::path& out_dir, const MakeModelOptions& o) {
  model::ModelConfig c;
  if (o.architecture == "llama") c.architecture = "LlamaForCausalLM";
  else if (o.architecture == "mistral") c.architecture = "MistralForCausalLM";
  else if (o.architecture == "qwen2") c.architecture = "Qwen2ForCausalLM";
  else throw InputError(fmt::format("architecture '{}' is not one of llama, mistral, qwen2", o.architecture));
  c.model_type = o.architecture;
  auto positive = [](const char* what, std::int64_t v) {
    if (v <= 0) throw InputError(fmt::format("{} must be positive, got {}", what, v));
  };
  positive("layers", o.layers);
  positive("hidden_size", o.hidden_size);
  positive("intermediate_size", o.intermediate_size);
  positive("heads", o.heads);
  positive("kv_heads", o.kv_heads);
  if (o.heads % o.kv_heads != 0)
    throw InputError(fmt::format("heads ({}) must be a multiple of kv_heads ({})", o.heads, o.kv_heads));
  c.hidden_size = o.hidden_size;
  c.intermediate_size = o.intermediate_size;
  c.num_layers = o.layers;
  c.num_heads = o.heads;
  c.num_kv_heads = o.kv_heads;
  c.head_dim = o.head_dim > 0 ? o.head_dim : o.hidden_size / o.heads;
  if (c.head_dim % 2 != 0 || c.head_dim <= 0)
    throw InputError(fmt::format("head_dim must be positive and even, got {}", c.head_dim));
  c.max_position_embeddings = o.max_position_embeddings;
  c.rope_theta = o.rope_theta;
  c.rms_norm_eps = 1e-5;
  c.tie_word_embeddings = o.tie_word_embeddings;
  c.qkv_bias = o.architecture == "qwen2";
  c.torch_dtype = o.dtype;
  if (o.rope_scaling == "linear") c.rope_scaling.kind = model::RopeScaling::Kind::linear;
  else if (o.rope_scaling == "dynamic") c.rope_scaling.kind = model::RopeScaling::Kind::dynamic;
  else if (o.rope_scaling == "llama3") c.rope_scaling.kind = model::RopeScaling::Kind::llama3;
  else if (o.rope_scaling != "none")
    throw InputError(fmt::format("rope_scaling '{}' is not one of none, linear, dynamic, llama3", o.rope_scaling));
  c.rope_scaling.factor = o.rope_factor;
  if (c.rope_scaling.kind == model::RopeScaling::Kind::llama3)
    c.rope_scaling.original_max_position_embeddings = std::max<std::int64_t>(16, o.max_position_embeddings / 4);
  DType dtype;
  if (o.dtype == "float32") dtype = DType::F32;
  else if (o.dtype == "bfloat16") dtype = DType::BF16;
  else if (o.dtype == "float16") dtype = DType::F16;
  else throw InputError(fmt::format("dtype '{}' is not one of float32, bfloat16, float16", o.dtype));

  std::filesystem::create_directories(out_dir);

  // Tokenizers first: the vocabulary size follows from them.
  std::int64_t vocab = o.vocab_size > 0 ? o.vocab_size : 512;
  if (o.tokenizer != "none") {
    if (o.tokenizer != "spm" && o.tokenizer != "bpe" && o.tokenizer != "both")
      throw InputError(fmt::format("tokenizer '{}' is not one of none, spm, bpe, both", o.tokenizer));
    const std::string corpus = read_text(o.corpus);
    if (o.tokenizer != "bpe") model::train_sentencepiece(corpus, o.tokenizer_vocab, out_dir / "tokenizer.model");
    if (o.tokenizer != "spm") model::train_byte_level_bpe(corpus, o.tokenizer_vocab, out_dir / "tokenizer.json");
    auto tokenizer = model::load_tokenizer(out_dir);
    if (o.vocab_size <= 0) vocab = std::int64_t(tokenizer->vocab_size());
    if (vocab < std::int64_t(tokenizer->vocab_size()))
      throw InputError(fmt::format("vocab_size {} is smaller than the tokenizer's {}", vocab, tokenizer->vocab_size()));
    if (auto bos = tokenizer->bos_id()) c.bos_token_id = *bos;
    if (auto eos = tokenizer->eos_id()) c.eos_token_ids = {*eos};
  }
  c.vocab_size = vocab;

  const std::int64_t H = c.hidden_size, D = c.head_dim, I = c.intermediate_size;
  const float in_std = 1.0f / std::sqrt(float(H));
  Writer w(dtype, o.seed);
  w.normal("model.embed_tokens.weight", {vocab, H}, 1.0f);
  for (std::int64_t i = 0; i < c.num_layers; ++i) {
    const std::string p = fmt::format("model.layers.{}.", i);
    w.normal(p + "input_layernorm.weight", {H}, 0.1f, 1.0f);
    w.normal(p + "post_attention_layernorm.weight", {H}, 0.1f, 1.0f);
    w.normal(p + "self_attn.q_proj.weight", {c.num_heads * D, H}, in_std);
    w.normal(p + "self_attn.k_proj.weight", {c.num_kv_heads * D, H}, in_std);
    w.normal(p + "self_attn.v_proj.weight", {c.num_kv_heads * D, H}, in_std);
    if (c.qkv_bias) {
      w.normal(p + "self_attn.q_proj.bias", {c.num_heads * D}, 0.1f);
      w.normal(p + "self_attn.k_proj.bias", {c.num_kv_heads * D}, 0.1f);
      w.normal(p + "self_attn.v_proj.bias", {c.num_kv_heads * D}, 0.1f);
    }
    w.normal(p + "self_attn.o_proj.weight", {H, c.num_heads * D}, 1.0f / std::sqrt(float(c.num_heads * D)));
    w.normal(p + "mlp.gate_proj.weight", {I, H}, in_std);
    w.normal(p + "mlp.up_proj.weight", {I, H}, in_std);
    w.normal(p + "mlp.down_proj.weight", {H, I}, 1.0f / std::sqrt(float(I)));
  }
  w.normal("model.norm.weight", {H}, 0.1f, 1.0f);
  if (!c.tie_word_embeddings) w.normal("lm_head.weight", {vocab, H}, in_std);
  model::write_safetensors(out_dir / "model.safetensors", w.tensors(), {{"format", "pt"}});
  write_text(out_dir / "config.json", c.to_json());
  std::string generation = "{\n  \"do_sample\": false";
  if (c.bos_token_id) generation += fmt::format(",\n  \"bos_token_id\": {}", *c.bos_token_id);
  if (!c.eos_token_ids.empty()) generation += fmt::format(",\n  \"eos_token_id\": {}", c.eos_token_ids.front());
  write_text(out_dir / "generation_config.json", generation + "\n}\n");
}

}  // namespace qread
