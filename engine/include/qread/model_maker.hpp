// Tiny random models in Hugging Face layout, for tests and benchmarks (`qread mkmodel`): a
// config.json, generation_config.json, model.safetensors with seeded random weights and,
// optionally, tokenizers trained on a given text.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

namespace qread {

struct MakeModelOptions {
  std::string architecture = "llama";  // llama, mistral, qwen2
  std::int64_t layers = 2;
  std::int64_t hidden_size = 64;
  std::int64_t intermediate_size = 128;
  std::int64_t heads = 4;
  std::int64_t kv_heads = 2;
  std::int64_t head_dim = 0;    // 0: hidden_size / heads
  std::int64_t vocab_size = 0;  // 0: the trained tokenizer's size (512 without a tokenizer)
  std::int64_t max_position_embeddings = 4096;
  double rope_theta = 10000.0;
  std::string rope_scaling = "none";  // none, linear, dynamic, llama3
  double rope_factor = 4.0;
  bool tie_word_embeddings = false;
  std::string dtype = "float32";  // stored dtype: float32, bfloat16, float16
  std::uint64_t seed = 1;
  // Tokenizers trained on `corpus` (a UTF-8 text file): "spm" writes tokenizer.model, "bpe"
  // tokenizer.json, "both" both (tokenizer.json is then the one loaded), "none" neither.
  std::string tokenizer = "none";
  std::filesystem::path corpus;
  std::int64_t tokenizer_vocab = 400;
};

// Writes the model folder (created if needed). Throws InputError for bad options.
void make_model(const std::filesystem::path& out_dir, const MakeModelOptions& options);

}  // namespace qread
