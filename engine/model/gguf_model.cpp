#include "model/gguf_model.hpp"

#include "model/bpe_tokenizer.hpp"
#include "qread/error.hpp"

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include <regex>

namespace qread::model {

std::optional<std::filesystem::path> gguf_model_file(const std::filesystem::path& path) {
  std::error_code ec;
  if (std::filesystem::is_regular_file(path, ec)) {
    if (path.extension() == ".gguf") return path;
    return std::nullopt;
  }
  if (!std::filesystem::is_directory(path, ec) || std::filesystem::exists(path / "config.json")) return std::nullopt;
  std::optional<std::filesystem::path> found;
  for (const auto& entry : std::filesystem::directory_iterator(path, ec)) {
    if (entry.path().extension() != ".gguf") continue;
    if (found) throw InputError(fmt::format("{}: more than one .gguf file; name the one to use", path.string()));
    found = entry.path();
  }
  return found;
}

ModelConfig config_from_gguf(const GgufFile& f) {
  const std::string arch = f.get_string("general.architecture");
  if (arch != "llama")
    throw InputError(fmt::format("{}: GGUF architecture '{}' is not supported (supported: llama)", f.path().string(), arch));
  ModelConfig c;
  c.architecture = "LlamaForCausalLM";
  c.model_type = "llama";
  c.hidden_size = std::int64_t(f.get_uint("llama.embedding_length"));
  c.intermediate_size = std::int64_t(f.get_uint("llama.feed_forward_length"));
  c.num_layers = std::int64_t(f.get_uint("llama.block_count"));
  c.num_heads = std::int64_t(f.get_uint("llama.attention.head_count"));
  c.num_kv_heads = f.find("llama.attention.head_count_kv") ? std::int64_t(f.get_uint("llama.attention.head_count_kv"))
                                                           : c.num_heads;
  c.head_dim = f.find("llama.rope.dimension_count") ? std::int64_t(f.get_uint("llama.rope.dimension_count"))
                                                    : c.hidden_size / c.num_heads;
  c.max_position_embeddings = std::int64_t(f.get_uint("llama.context_length"));
  c.rms_norm_eps = f.get_f32("llama.attention.layer_norm_rms_epsilon");
  c.rope_theta = f.find("llama.rope.freq_base") ? f.get_f32("llama.rope.freq_base") : 10000.0;
  const auto* embed = f.find_tensor("token_embd.weight");
  if (!embed) throw InputError(fmt::format("{}: no tensor 'token_embd.weight'", f.path().string()));
  c.vocab_size = embed->shape().front();
  c.tie_word_embeddings = f.find_tensor("output.weight") == nullptr;
  c.torch_dtype = "float32";
  if (f.find("tokenizer.ggml.bos_token_id")) c.bos_token_id = std::int32_t(f.get_uint("tokenizer.ggml.bos_token_id"));
  if (f.find("tokenizer.ggml.eos_token_id")) c.eos_token_ids = {std::int32_t(f.get_uint("tokenizer.ggml.eos_token_id"))};
  if (c.num_heads <= 0 || c.num_kv_heads <= 0 || c.num_heads % c.num_kv_heads != 0 || c.head_dim % 2 != 0)
    throw InputError(fmt::format("{}: inconsistent head counts ({} heads, {} KV heads, head size {})",
                                 f.path().string(), c.num_heads, c.num_kv_heads, c.head_dim));
  return c;
}

std::string tokenizer_json_from_gguf(const GgufFile& f) {
  const std::string kind = f.get_string("tokenizer.ggml.model");
  if (kind != "gpt2")
    throw InputError(fmt::format("{}: GGUF tokenizer '{}' is not supported (supported: gpt2 byte-level BPE)",
                                 f.path().string(), kind));
  const auto& tokens = f.get_string_array("tokenizer.ggml.tokens");
  const auto& merges = f.get_string_array("tokenizer.ggml.merges");
  std::vector<std::int64_t> types;
  if (f.find("tokenizer.ggml.token_type")) types = f.get_int_array("tokenizer.ggml.token_type");
  nlohmann::json vocab = nlohmann::json::object(), added = nlohmann::json::array();
  for (std::size_t id = 0; id < tokens.size(); ++id) {
    vocab[tokens[id]] = id;
    // llama.cpp token types: 3 control, 4 user-defined: both are matched whole in text.
    const auto type = id < types.size() ? types[id] : 1;
    if (type == 3 || type == 4)
      added.push_back({{"id", id}, {"content", tokens[id]}, {"special", type == 3}, {"single_word", false},
                       {"lstrip", false}, {"rstrip", false}, {"normalized", false}});
  }
  // The pre-tokenizer llama.cpp names in `tokenizer.ggml.pre`: SmolLM2 ("smollm") splits digits
  // one by one, then byte-level with the GPT-2 regex; Llama-3 ("llama-bpe") splits with its own
  // regex; anything else gets the plain GPT-2 byte-level pre-tokenizer.
  auto byte_level = [](bool use_regex) {
    return nlohmann::json{{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true},
                          {"use_regex", use_regex}};
  };
  nlohmann::json pre = byte_level(true);
  const std::string pre_name = f.find("tokenizer.ggml.pre") ? f.get_string("tokenizer.ggml.pre") : "default";
  if (pre_name == "smollm")
    pre = {{"type", "Sequence"},
           {"pretokenizers", {{{"type", "Digits"}, {"individual_digits", true}}, byte_level(true)}}};
  else if (pre_name == "llama-bpe" || pre_name == "llama3")
    pre = {{"type", "Sequence"},
           {"pretokenizers",
            {{{"type", "Split"}, {"pattern", {{"Regex", std::string(kLlama3Pattern)}}}, {"behavior", "Isolated"},
              {"invert", false}},
             byte_level(false)}}};
  nlohmann::json j = {{"version", "1.0"},
                      {"added_tokens", added},
                      {"normalizer", nullptr},
                      {"pre_tokenizer", pre},
                      {"post_processor", nullptr},
                      {"decoder", {{"type", "ByteLevel"}}},
                      {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}, {"ignore_merges", false}}}};
  return j.dump();
}

std::string chat_template_from_gguf(const GgufFile& f) {
  if (!f.find("tokenizer.chat_template")) return "none";
  const auto& t = f.get_string("tokenizer.chat_template");
  if (t.find("<|im_start|>") != std::string::npos) return "chatml";
  if (t.find("<|start_header_id|>") != std::string::npos) return "llama-3-inst";
  if (t.find("[INST]") != std::string::npos) return "mistral-inst";
  return "none";
}

std::string gguf_tensor_name(const std::string& hf) {
  static const std::pair<const char*, const char*> kGlobal[] = {
      {"model.embed_tokens.weight", "token_embd.weight"},
      {"model.norm.weight", "output_norm.weight"},
      {"lm_head.weight", "output.weight"}};
  for (const auto& [from, to] : kGlobal)
    if (hf == from) return to;
  static const std::regex layer(R"(model\.layers\.(\d+)\.(.+)\.(weight|bias))");
  static const std::pair<const char*, const char*> kLayer[] = {
      {"input_layernorm", "attn_norm"},       {"post_attention_layernorm", "ffn_norm"},
      {"self_attn.q_proj", "attn_q"},          {"self_attn.k_proj", "attn_k"},
      {"self_attn.v_proj", "attn_v"},          {"self_attn.o_proj", "attn_output"},
      {"mlp.gate_proj", "ffn_gate"},           {"mlp.up_proj", "ffn_up"},
      {"mlp.down_proj", "ffn_down"}};
  std::smatch m;
  if (!std::regex_match(hf, m, layer)) return {};
  for (const auto& [from, to] : kLayer)
    if (m[2] == from) return fmt::format("blk.{}.{}.{}", m[1].str(), to, m[3].str());
  return {};
}

std::vector<float> gguf_tensor_as_hf(const GgufFile& f, const ModelConfig& c, const std::string& hf_name,
                                     std::vector<std::int64_t>* shape) {
  const std::string name = gguf_tensor_name(hf_name);
  const auto* info = name.empty() ? nullptr : f.find_tensor(name);
  if (!info)
    throw InputError(fmt::format("{}: tensor '{}' (HF '{}') not found", f.path().string(), name.empty() ? "?" : name, hf_name));
  *shape = info->shape();
  auto values = f.dequantize(*info);
  // llama.cpp stores q_proj/k_proj rows reordered for its interleaved-pair RoPE: within each head,
  // row (pair i, half h) sits at 2 i + h. The HF rotate-half RoPE wants h * (D/2) + i back.
  const bool q = hf_name.find("self_attn.q_proj.weight") != std::string::npos;
  const bool k = hf_name.find("self_attn.k_proj.weight") != std::string::npos;
  if ((q || k) && shape->size() == 2) {
    const std::int64_t heads = q ? c.num_heads : c.num_kv_heads, rows = (*shape)[0], cols = (*shape)[1];
    const std::int64_t half = rows / heads / 2;
    std::vector<float> out(values.size());
    for (std::int64_t h = 0; h < heads; ++h)
      for (std::int64_t i = 0; i < half; ++i)
        for (std::int64_t part = 0; part < 2; ++part) {
          const std::int64_t from = h * 2 * half + 2 * i + part, to = h * 2 * half + part * half + i;
          std::copy_n(values.begin() + from * cols, cols, out.begin() + to * cols);
        }
    values.swap(out);
  }
  return values;
}

}  // namespace qread::model
