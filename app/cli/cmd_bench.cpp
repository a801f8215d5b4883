// qread bench: prefill and decode speed and memory, on a model folder or on random weights of a
// named shape (no download needed). The benchmark every performance claim in the project cites.
#include "command.hpp"
#include "progress.hpp"
#include "qread/config.hpp"
#include "qread/error.hpp"
#include "qread/eval.hpp"
#include "qread/language_model.hpp"
#include "qread/memory_budget.hpp"
#include "qread/runtime.hpp"

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <random>

namespace {

struct BenchArgs {
  std::string model_dir, shape, lengths = "4k", device = "cpu", dtype = "auto", config;
  std::vector<std::string> overrides;
  bool random_weights = false, json = false;
  int decode_tokens = 16;
  std::int64_t chunk_size = 0;
  std::uint64_t seed = 0;
};

double mib(long long bytes) { return double(bytes) / (1024.0 * 1024.0); }

qread::cli::Runner setup_bench(CLI::App& app) {
  auto* cmd = app.add_subcommand("bench", "Measure prefill and decode speed and memory");
  auto a = std::make_shared<BenchArgs>();
  auto* model = cmd->add_option("--model", a->model_dir, "Hugging Face model folder");
  auto* shape = cmd->add_option("--shape", a->shape, "Named shape with --random-weights: llama3-8b, "
                                "mistral-7b, qwen2-7b, tiny");
  model->excludes(shape);
  cmd->add_flag("--random-weights", a->random_weights, "Random weights of --shape, made on the device");
  cmd->add_option("--lengths", a->lengths, "Comma-separated context lengths (4096, 32k, 1m)")->capture_default_str();
  cmd->add_option("--decode-tokens", a->decode_tokens, "Tokens decoded after each prefill")->capture_default_str();
  cmd->add_option("--chunk-size", a->chunk_size, "Prefill chunk in tokens (default: the config's, else 8192)");
  cmd->add_option("--config", a->config, "YAML run config: the context-memory mode and its settings (default: full attention)");
  cmd->add_option("--set", a->overrides, "Override a config key: key=value (repeatable)");
  cmd->add_option("--device", a->device)->capture_default_str();
  cmd->add_option("--dtype", a->dtype)->capture_default_str();
  cmd->add_option("--seed", a->seed)->capture_default_str();
  cmd->add_flag("--json", a->json, "One JSON object per measurement, one per line");
  return [a] {
    const auto lengths = qread::eval::parse_lengths(a->lengths);
    if (a->decode_tokens < 0) throw qread::InputError("--decode-tokens must be >= 0");
    std::unique_ptr<qread::LanguageModel> lm;
    const qread::ModelOptions options{a->device, a->dtype, {}, {}};
    if (!a->shape.empty()) {
      if (!a->random_weights) throw qread::InputError("--shape needs --random-weights");
      lm = qread::LanguageModel::random(a->shape, options, a->seed);
    } else if (!a->model_dir.empty()) {
      lm = qread::LanguageModel::load(a->model_dir, options);
    } else {
      throw qread::InputError("bench: give --model DIR or --shape NAME --random-weights");
    }
    auto attention = qread::default_config(qread::MemoryMode::origin).attention;
    if (!a->config.empty() || !a->overrides.empty()) {
      auto config = a->config.empty() ? qread::default_config(qread::MemoryMode::origin) : qread::load_config(a->config);
      qread::apply_overrides(config, a->overrides);
      lm->configure_memory(config.attention, std::nullopt);
      attention = config.attention;
      if (a->chunk_size <= 0) a->chunk_size = config.chunk_size;
    }
    const std::string mode = qread::mode_name(attention.mode);
    if (a->chunk_size <= 0) a->chunk_size = 8192;
    const auto& s = lm->summary();
    // The longest length must fit in this machine's memory in this mode: said before any is run.
    const auto longest = *std::max_element(lengths.begin(), lengths.end());
    for (const auto& note : qread::check_memory_room(s, attention, longest + a->decode_tokens,
                                                     qread::memory_room(s.device), fmt::format("--lengths {}", a->lengths),
                                                     /*suggest_max_len=*/false))
      fmt::print(stderr, "qread bench: note: {}\n", note);
    const std::string name = a->shape.empty() ? a->model_dir : a->shape;
    if (!a->json)
      fmt::print("{} ({} layers, hidden {}, {}/{} heads), {} {}, {}, loaded in {:.1f} s\n"
                 "{:>9} {:>10} {:>12} {:>11} {:>12} {:>12} {:>11}\n",
                 name, s.layers, s.hidden_size, s.heads, s.kv_heads, s.device, s.dtype, mode, s.load_seconds,
                 "length", "prefill s", "prefill tok/s", "decode ms", "GPU peak MiB", "host peak MiB", "cache hits");
    std::mt19937_64 rng(a->seed);
    std::uniform_int_distribution<qread::TokenId> token(0, qread::TokenId(s.vocab_size - 1));
    {
      // Warm-up outside the timings: the first calls pay for kernel selection, cuBLAS handles
      // and allocator growth. A whole chunk and part of the next, so that the timed prefills'
      // shapes (their matmuls of chunk_size rows, the block memory's retrievals) have run once.
      std::vector<qread::TokenId> warm(std::min<std::int64_t>(longest, a->chunk_size + 2048));
      for (auto& id : warm) id = token(rng);
      lm->feed(warm, a->chunk_size);
      for (int i = 0; i < 4; ++i) {
        const qread::TokenId one[] = {token(rng)};
        lm->feed(one, 1);
      }
    }
    const auto& cancel = qread::cli::install_cancel_handler();
    qread::cli::ProgressBar bar;
    for (const auto length : lengths) {
      std::vector<qread::TokenId> ids(length);
      for (auto& id : ids) id = token(rng);
      lm->reset();
      qread::reset_peak_memory();
      using Clock = std::chrono::steady_clock;
      auto start = Clock::now();
      bar.start(fmt::format("prefill {}", length));
      auto logits = lm->feed(ids, a->chunk_size,  // returns logits on the host: a full sync
                             [&bar](std::int64_t done, std::int64_t total) { bar.update(done, total); }, &cancel);
      bar.clear();
      const double prefill = std::chrono::duration<double>(Clock::now() - start).count();
      start = Clock::now();
      for (int i = 0; i < a->decode_tokens; ++i) {
        const qread::TokenId one[] = {token(rng)};
        logits = lm->feed(one, 1, {}, &cancel);
      }
      const double decode_ms = a->decode_tokens
          ? 1000.0 * std::chrono::duration<double>(Clock::now() - start).count() / a->decode_tokens : 0.0;
      const auto memory = qread::memory_usage();
      // The block cache's hits and misses in this prefill and decode (InfLLM, Q-LLM; none in
      // other modes), all layers: read after the timings, as reading them waits for the device.
      const auto report = lm->memory_report();
      const auto lookups = report.cache_hits + report.cache_misses;
      if (a->json) {
        std::cout << nlohmann::json{{"model", name}, {"mode", mode}, {"device", s.device},
                                    {"dtype", s.dtype}, {"length", length}, {"chunk_size", a->chunk_size},
                                    {"prefill_seconds", prefill}, {"prefill_tokens_per_second", double(length) / prefill},
                                    {"decode_tokens", a->decode_tokens}, {"decode_ms_per_token", decode_ms},
                                    {"gpu_peak_bytes", memory.gpu_peak_bytes},
                                    {"host_peak_bytes", memory.host_peak_bytes},
                                    {"cache_hits", report.cache_hits}, {"cache_misses", report.cache_misses},
                                    {"bytes_to_device", report.bytes_to_device},
                                    {"blocks_staged", report.blocks_staged},
                                    {"misses_staged", report.misses_staged}}.dump()
                  << std::endl;
      } else {
        const std::string hits = lookups ? fmt::format("{:.1f}%", 100.0 * double(report.cache_hits) / double(lookups)) : "-";
        fmt::print("{:>9} {:>10.3f} {:>12.0f} {:>11.2f} {:>12.0f} {:>12.0f} {:>11}\n", length, prefill,
                   double(length) / prefill, decode_ms, mib(memory.gpu_peak_bytes), mib(memory.host_peak_bytes), hits);
      }
    }
    return qread::cli::kExitOk;
  };
}

}  // namespace

QREAD_CLI_COMMAND("bench", setup_bench);
