// A Hugging Face model folder's config.json (and generation_config.json), as the typed values the
// transformer needs. Llama, Mistral and Qwen2 causal LMs; anything else is refused clearly.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace qread::model {

struct RopeScaling {
  enum class Kind { none, linear, dynamic, llama3 };
  Kind kind = Kind::none;
  double factor = 1.0;
  // llama3 only
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  std::int64_t original_max_position_embeddings = 8192;
};

struct ModelConfig {
  std::string architecture;  // "LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM"
  std::string model_type;    // "llama", "mistral", "qwen2"
  std::int64_t vocab_size = 0;
  std::int64_t hidden_size = 0;
  std::int64_t intermediate_size = 0;
  std::int64_t num_layers = 0;
  std::int64_t num_heads = 0;
  std::int64_t num_kv_heads = 0;
  std::int64_t head_dim = 0;
  std::int64_t max_position_embeddings = 0;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  bool tie_word_embeddings = false;
  bool qkv_bias = false;  // Qwen2 always; Llama with attention_bias
  bool o_bias = false;    // Llama with attention_bias
  bool mlp_bias = false;  // Llama with mlp_bias
  std::string torch_dtype = "float32";  // as stored: "float32", "bfloat16", "float16"
  std::optional<std::int32_t> bos_token_id;
  std::vector<std::int32_t> eos_token_ids;  // config.json, then generation_config.json

  // Reads <dir>/config.json and, when present, <dir>/generation_config.json. Throws InputError
  // naming the file and key on a missing/unsupported/ill-typed value.
  static ModelConfig load(const std::filesystem::path& model_dir);
  // Parses config.json text; `source` names it in error messages.
  static ModelConfig parse(const std::string& json_text, const std::string& source);
  // Merges generation_config.json text (eos ids may be an int or a list).
  void merge_generation_config(const std::string& json_text, const std::string& source);

  // config.json text for this configuration (used by the model maker).
  std::string to_json() const;
};

const char* rope_scaling_name(RopeScaling::Kind kind);

}  // namespace qread::model
