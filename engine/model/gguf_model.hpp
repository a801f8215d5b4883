// A GGUF file (llama.cpp's format) as a model: its config from the `llama.*` metadata, its
// tokenizer (`tokenizer.ggml.*`, gpt2 = byte-level BPE) as the tokenizer.json our BPE reader
// takes, and its tensors under Hugging Face names, with llama.cpp's Q/K row permutation undone.
#pragma once

#include "model/gguf.hpp"
#include "model/model_config.hpp"

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace qread::model {

// The GGUF file `path` names: the file itself, or the only .gguf in a folder without a
// config.json. nullopt when `path` is not a GGUF model.
std::optional<std::filesystem::path> gguf_model_file(const std::filesystem::path& path);

// Throws InputError naming the file and key for a missing key or an architecture other than llama.
ModelConfig config_from_gguf(const GgufFile& file);

// tokenizer.json text for the file's gpt2-style tokenizer (tokens, merges, token types, special ids).
std::string tokenizer_json_from_gguf(const GgufFile& file);

// The chat template name the file's `tokenizer.chat_template` calls for ("chatml", ...; "none").
std::string chat_template_from_gguf(const GgufFile& file);

// The GGUF tensor name of a Hugging Face tensor name ("model.layers.3.self_attn.q_proj.weight" ->
// "blk.3.attn_q.weight"); empty when there is none.
std::string gguf_tensor_name(const std::string& hf_name);

// A tensor under its HF name as float32 values in HF layout ([out, in] rows for matrices);
// q_proj/k_proj rows un-permuted. Throws InputError naming the tensor when absent.
std::vector<float> gguf_tensor_as_hf(const GgufFile& file, const ModelConfig& config, const std::string& hf_name,
                                     std::vector<std::int64_t>* shape);

}  // namespace qread::model
