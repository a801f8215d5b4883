// A run's configuration: the reference implementation's YAML files (seed 000's `config/*.yaml`)
// load unchanged, plus Quest (seed 002) and qread's own keys. Plain C++ types: the UI edits it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace qread {

enum class MemoryMode { origin, stream_llm, infinite_lm, inf_llm, qllm, quest };

// "origin", "stream-llm", "infinite-lm", "inf-llm", "qllm", "quest" (the YAML spelling).
const char* mode_name(MemoryMode mode);
std::optional<MemoryMode> parse_mode(const std::string& name);

enum class CacheStrategy { lru, lru_s };

// The `model:` section.
struct AttentionConfig {
  MemoryMode mode = MemoryMode::origin;  // model.type
  std::string path;                      // model.path (a model folder; may be empty)
  bool fattn = false;                    // fused attention kernels where available
  std::optional<double> base;            // RoPE base override
  std::optional<double> distance_scale;  // RoPE position scale
  std::int64_t n_init = 128;             // attention-sink / initial tokens kept
  std::int64_t n_local = 4096;           // local window
  std::int64_t block_size = 128;         // memory block, tokens
  std::int64_t topk = 16;                // blocks retrieved per execution block
  std::int64_t repr_topk = 1;            // representative keys per block
  std::int64_t max_cached_block = 32;    // GPU cache capacity per layer, blocks
  std::int64_t exc_block_size = 512;     // queries per retrieval
  CacheStrategy cache_strategy = CacheStrategy::lru;
  std::optional<double> score_decay;     // lru-s only (required there)
  bool async_global_stream = false;      // copies on a side stream
  bool faiss = false;                    // accepted and ignored (see notes)
  bool perhead = false;                  // retrieve per head instead of per layer
  double question_weight = 1.0;          // qllm: weight of the question vector in block scores
  // Quest (seed 002)
  std::int64_t page_size = 16;
  std::int64_t token_budget = 1024;
  std::int64_t dense_layers = 2;  // first layers that keep full attention

  bool operator==(const AttentionConfig&) const = default;
};

struct RunConfig {
  AttentionConfig attention;
  std::int64_t max_len = 2147483647;  // prompt tokens kept (truncation)
  std::string truncation = "suffix";  // keep the beginning's init tokens and the end
  std::int64_t chunk_size = 8192;     // prefill chunk
  std::string conv_type;              // chat template name; empty: chosen from the model folder
  std::filesystem::path source;       // the file it came from, if any
  std::vector<std::string> notes;     // keys accepted but ignored, with why (e.g. faiss)

  bool operator==(const RunConfig&) const = default;
};

// Parses a YAML file. Throws InputError naming the file and the key at fault on unknown keys,
// wrong types and impossible values (exc_block_size > n_local, topk < 1, ...).
RunConfig load_config(const std::filesystem::path& path);
RunConfig parse_config(const std::string& yaml_text, const std::string& source);
// A run configuration with defaults for `mode` (the built-in presets' values).
RunConfig default_config(MemoryMode mode);
// `--set key=value` (key as in YAML, `model.` prefix optional: "topk=8", "model.n_local=2048",
// "chunk_size=4096"); validated like the file. Throws InputError naming the key.
void apply_override(RunConfig& config, const std::string& assignment);
// Several overrides, checked together once all are applied.
void apply_overrides(RunConfig& config, const std::vector<std::string>& assignments);
// Throws InputError when the values cannot work together.
void validate(const RunConfig& config, const std::string& source);
// YAML text that parse_config reads back to the same config.
std::string to_yaml(const RunConfig& config);

}  // namespace qread
