#include "model/model_config.hpp"

#include "qread/error.hpp"

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <sstream>

namespace qread::model {
namespace {

using nlohmann::json;

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(fmt::format("{}: cannot open", path.string()));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

json parse_object(const std::string& text, const std::string& source) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw InputError(fmt::format("{}: not valid JSON", source));
  if (!j.is_object()) throw InputError(fmt::format("{}: expected a JSON object", source));
  return j;
}

// Typed field access with errors that name the file and key.
class Fields {
 public:
  Fields(const json& j, std::string source) : j_(j), source_(std::move(source)) {}

  std::int64_t integer(const char* key) const {
    const json* v = find(key);
    if (!v) throw InputError(fmt::format("{}: missing required key '{}'", source_, key));
    return as_integer(*v, key);
  }
  std::int64_t integer(const char* key, std::int64_t fallback) const {
    const json* v = find(key);
    return v ? as_integer(*v, key) : fallback;
  }
  std::int64_t positive(const char* key) const {
    auto n = integer(key);
    if (n <= 0) throw InputError(fmt::format("{}: '{}' must be positive, got {}", source_, key, n));
    return n;
  }
  double number(const char* key, double fallback) const {
    const json* v = find(key);
    if (!v) return fallback;
    if (!v->is_number()) throw type_error(key, "a number", *v);
    return v->get<double>();
  }
  bool boolean(const char* key, bool fallback) const {
    const json* v = find(key);
    if (!v) return fallback;
    if (!v->is_boolean()) throw type_error(key, "true or false", *v);
    return v->get<bool>();
  }
  std::string string(const char* key, const std::string& fallback) const {
    const json* v = find(key);
    if (!v) return fallback;
    if (!v->is_string()) throw type_error(key, "a string", *v);
    return v->get<std::string>();
  }
  const json* find(const char* key) const {
    auto it = j_.find(key);
    return it == j_.end() || it->is_null() ? nullptr : &*it;
  }
  InputError type_error(const char* key, const char* expected, const json& got) const {
    return InputError(fmt::format("{}: '{}' must be {}, got {}", source_, key, expected, got.dump()));
  }
  const std::string& source() const { return source_; }

 private:
  std::int64_t as_integer(const json& v, const char* key) const {
    if (v.is_number_integer()) return v.get<std::int64_t>();
    if (v.is_number_float() && v.get<double>() == double(std::int64_t(v.get<double>())))
      return std::int64_t(v.get<double>());
    throw type_error(key, "an integer", v);
  }
  const json& j_;
  std::string source_;
};

std::vector<std::int32_t> id_list(const json& v, const std::string& source, const char* key) {
  std::vector<std::int32_t> ids;
  auto one = [&](const json& x) {
    if (!x.is_number_integer() || x.get<std::int64_t>() < 0)
      throw InputError(fmt::format("{}: '{}' must be a token id or a list of ids, got {}", source, key, v.dump()));
    ids.push_back(x.get<std::int32_t>());
  };
  if (v.is_array())
    for (const auto& x : v) one(x);
  else
    one(v);
  return ids;
}

RopeScaling parse_rope_scaling(const json& v, const std::string& source) {
  RopeScaling s;
  if (!v.is_object()) throw InputError(fmt::format("{}: 'rope_scaling' must be an object or null", source));
  Fields f(v, source + ": rope_scaling");
  // Newer configs write "rope_type", older ones "type".
  std::string kind = f.string("rope_type", f.string("type", ""));
  if (kind == "default") return s;
  if (kind == "linear") s.kind = RopeScaling::Kind::linear;
  else if (kind == "dynamic") s.kind = RopeScaling::Kind::dynamic;
  else if (kind == "llama3") s.kind = RopeScaling::Kind::llama3;
  else
    throw InputError(fmt::format("{}: rope_scaling type '{}' is not supported (supported: linear, "
                                 "dynamic, llama3)", source, kind));
  s.factor = f.number("factor", 1.0);
  if (!(s.factor >= 1.0))
    throw InputError(fmt::format("{}: rope_scaling factor must be >= 1, got {}", source, s.factor));
  s.low_freq_factor = f.number("low_freq_factor", 1.0);
  s.high_freq_factor = f.number("high_freq_factor", 4.0);
  s.original_max_position_embeddings = f.integer("original_max_position_embeddings", 8192);
  if (s.kind == RopeScaling::Kind::llama3 && !(s.high_freq_factor > s.low_freq_factor))
    throw InputError(fmt::format("{}: rope_scaling high_freq_factor must exceed low_freq_factor", source));
  return s;
}

}  // namespace

const char* rope_scaling_name(RopeScaling::Kind kind) {
  switch (kind) {
    case RopeScaling::Kind::none: return "none";
    case RopeScaling::Kind::linear: return "linear";
    case RopeScaling::Kind::dynamic: return "dynamic";
    case RopeScaling::Kind::llama3: return "llama3";
  }
  return "?";
}

ModelConfig ModelConfig::parse(const std::string& json_text, const std::string& source) {
  const json j = parse_object(json_text, source);
  Fields f(j, source);
  ModelConfig c;

  if (const json* arch = f.find("architectures")) {
    if (!arch->is_array() || arch->empty() || !(*arch)[0].is_string())
      throw f.type_error("architectures", "a list of class names", *arch);
    c.architecture = (*arch)[0].get<std::string>();
  }
  c.model_type = f.string("model_type", "");
  if (c.architecture.empty()) {
    if (c.model_type == "llama") c.architecture = "LlamaForCausalLM";
    else if (c.model_type == "mistral") c.architecture = "MistralForCausalLM";
    else if (c.model_type == "qwen2") c.architecture = "Qwen2ForCausalLM";
  }
  if (c.architecture != "LlamaForCausalLM" && c.architecture != "MistralForCausalLM" &&
      c.architecture != "Qwen2ForCausalLM")
    throw InputError(fmt::format("{}: architecture '{}' is not supported (supported: "
                                 "LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM)",
                                 source, c.architecture.empty() ? c.model_type : c.architecture));
  if (c.model_type.empty())
    c.model_type = c.architecture == "Qwen2ForCausalLM" ? "qwen2"
                   : c.architecture == "MistralForCausalLM" ? "mistral" : "llama";

  c.vocab_size = f.positive("vocab_size");
  c.hidden_size = f.positive("hidden_size");
  c.intermediate_size = f.positive("intermediate_size");
  c.num_layers = f.positive("num_hidden_layers");
  c.num_heads = f.positive("num_attention_heads");
  c.num_kv_heads = f.integer("num_key_value_heads", c.num_heads);
  if (c.num_kv_heads <= 0 || c.num_heads % c.num_kv_heads != 0)
    throw InputError(fmt::format("{}: num_attention_heads ({}) must be a multiple of "
                                 "num_key_value_heads ({})", source, c.num_heads, c.num_kv_heads));
  c.head_dim = f.integer("head_dim", 0);
  if (c.head_dim == 0) {
    if (c.hidden_size % c.num_heads != 0)
      throw InputError(fmt::format("{}: hidden_size ({}) is not a multiple of num_attention_heads ({})",
                                   source, c.hidden_size, c.num_heads));
    c.head_dim = c.hidden_size / c.num_heads;
  }
  if (c.head_dim <= 0 || c.head_dim % 2 != 0)
    throw InputError(fmt::format("{}: head_dim must be positive and even, got {}", source, c.head_dim));
  c.max_position_embeddings = f.integer("max_position_embeddings", 4096);
  c.rms_norm_eps = f.number("rms_norm_eps", 1e-6);
  c.rope_theta = f.number("rope_theta", 10000.0);
  if (!(c.rope_theta > 0)) throw InputError(fmt::format("{}: rope_theta must be positive", source));
  if (const json* rs = f.find("rope_scaling")) c.rope_scaling = parse_rope_scaling(*rs, source);
  c.tie_word_embeddings = f.boolean("tie_word_embeddings", false);
  if (c.model_type == "qwen2") {
    c.qkv_bias = true;
  } else {
    c.qkv_bias = c.o_bias = f.boolean("attention_bias", false);
    c.mlp_bias = f.boolean("mlp_bias", false);
  }
  const std::string act = f.string("hidden_act", "silu");
  if (act != "silu")
    throw InputError(fmt::format("{}: hidden_act '{}' is not supported (only silu)", source, act));
  c.torch_dtype = f.string("torch_dtype", f.string("dtype", "float32"));
  if (c.torch_dtype != "float32" && c.torch_dtype != "bfloat16" && c.torch_dtype != "float16")
    throw InputError(fmt::format("{}: torch_dtype '{}' is not supported", source, c.torch_dtype));
  if (const json* bos = f.find("bos_token_id")) {
    auto ids = id_list(*bos, source, "bos_token_id");
    if (!ids.empty()) c.bos_token_id = ids.front();
  }
  if (const json* eos = f.find("eos_token_id")) c.eos_token_ids = id_list(*eos, source, "eos_token_id");
  return c;
}

void ModelConfig::merge_generation_config(const std::string& json_text, const std::string& source) {
  const json j = parse_object(json_text, source);
  if (auto it = j.find("eos_token_id"); it != j.end() && !it->is_null()) {
    for (auto id : id_list(*it, source, "eos_token_id"))
      if (std::find(eos_token_ids.begin(), eos_token_ids.end(), id) == eos_token_ids.end())
        eos_token_ids.push_back(id);
  }
  if (auto it = j.find("bos_token_id"); it != j.end() && !it->is_null() && !bos_token_id) {
    auto ids = id_list(*it, source, "bos_token_id");
    if (!ids.empty()) bos_token_id = ids.front();
  }
}

ModelConfig ModelConfig::load(const std::filesystem::path& model_dir) {
  if (!std::filesystem::is_directory(model_dir))
    throw InputError(fmt::format("{}: not a model folder (no such directory)", model_dir.string()));
  const auto config_path = model_dir / "config.json";
  if (!std::filesystem::exists(config_path))
    throw InputError(fmt::format("{}: no config.json in the model folder", model_dir.string()));
  ModelConfig c = parse(read_file(config_path), config_path.string());
  const auto gen_path = model_dir / "generation_config.json";
  if (std::filesystem::exists(gen_path)) c.merge_generation_config(read_file(gen_path), gen_path.string());
  return c;
}

std::string ModelConfig::to_json() const {
  json j = {{"architectures", {architecture}},
            {"model_type", model_type},
            {"vocab_size", vocab_size},
            {"hidden_size", hidden_size},
            {"intermediate_size", intermediate_size},
            {"num_hidden_layers", num_layers},
            {"num_attention_heads", num_heads},
            {"num_key_value_heads", num_kv_heads},
            {"head_dim", head_dim},
            {"max_position_embeddings", max_position_embeddings},
            {"rms_norm_eps", rms_norm_eps},
            {"rope_theta", rope_theta},
            {"tie_word_embeddings", tie_word_embeddings},
            {"hidden_act", "silu"},
            {"torch_dtype", torch_dtype}};
  if (model_type == "llama") {
    j["attention_bias"] = qkv_bias;
    j["mlp_bias"] = mlp_bias;
  }
  if (rope_scaling.kind == RopeScaling::Kind::none) {
    j["rope_scaling"] = nullptr;
  } else {
    json rs = {{"rope_type", rope_scaling_name(rope_scaling.kind)}, {"factor", rope_scaling.factor}};
    if (rope_scaling.kind == RopeScaling::Kind::llama3) {
      rs["low_freq_factor"] = rope_scaling.low_freq_factor;
      rs["high_freq_factor"] = rope_scaling.high_freq_factor;
      rs["original_max_position_embeddings"] = rope_scaling.original_max_position_embeddings;
    }
    j["rope_scaling"] = rs;
  }
  if (bos_token_id) j["bos_token_id"] = *bos_token_id;
  if (eos_token_ids.size() == 1) j["eos_token_id"] = eos_token_ids.front();
  else if (!eos_token_ids.empty()) j["eos_token_id"] = eos_token_ids;
  return j.dump(2);
}

}  // namespace qread::model
