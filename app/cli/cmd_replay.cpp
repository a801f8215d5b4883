// qread replay: the oracle protocol, for checking the engine against another implementation:
// prefill all ids but the last in chunk_size chunks, feed the last id alone, then N greedy steps.
// Prints one JSON object with last_logits and greedy (and timings and memory counters).
#include "command.hpp"
#include "input_ids.hpp"
#include "qread/config.hpp"
#include "qread/error.hpp"
#include "qread/language_model.hpp"

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <iostream>

namespace {

struct ReplayArgs {
  std::string model_dir, input_ids, config, question_span, device = "cpu", dtype = "float32";
  int greedy = 8;
  std::vector<std::string> overrides;
};

std::optional<qread::TokenSpan> parse_span(const std::string& text) {
  const auto comma = text.find(',');
  try {
    if (comma != std::string::npos) {
      std::size_t used_a = 0, used_b = 0;
      const auto a = std::stoll(text.substr(0, comma), &used_a), b = std::stoll(text.substr(comma + 1), &used_b);
      if (used_a == comma && used_b == text.size() - comma - 1 && a >= 0 && b >= a) return qread::TokenSpan{a, b};
    }
  } catch (const std::exception&) {
  }
  throw qread::InputError(fmt::format("--question-span: '{}' is not START,END with 0 <= START <= END", text));
}

// An oracle.json carries its question span; plain id arrays do not.
std::optional<qread::TokenSpan> span_in_file(const std::string& path) {
  std::ifstream in(path);
  const auto j = nlohmann::json::parse(in, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  auto it = j.find("question_span");
  if (it == j.end() || !it->is_array() || it->size() != 2 || !(*it)[0].is_number_integer() ||
      !(*it)[1].is_number_integer())
    return std::nullopt;
  return qread::TokenSpan{(*it)[0].get<std::int64_t>(), (*it)[1].get<std::int64_t>()};
}

qread::cli::Runner setup_replay(CLI::App& app) {
  auto* cmd = app.add_subcommand("replay", "Run the oracle protocol and print last_logits and greedy ids as JSON");
  auto a = std::make_shared<ReplayArgs>();
  cmd->add_option("--model", a->model_dir, "Hugging Face model folder")->required();
  cmd->add_option("--input-ids", a->input_ids, "JSON array of ids, or an object with input_ids (oracle.json)")->required();
  cmd->add_option("--config", a->config, "YAML run config (the reference's format)")->required();
  cmd->add_option("--question-span", a->question_span, "START,END of the question (default: the file's question_span)");
  cmd->add_option("--greedy", a->greedy, "Greedy steps after the prompt")->capture_default_str();
  cmd->add_option("--device", a->device, "cpu, cuda or cuda:N")->capture_default_str();
  cmd->add_option("--dtype", a->dtype, "float32, bfloat16, float16")->capture_default_str();
  cmd->add_option("--set", a->overrides, "Override a config key: key=value (repeatable)");
  return [a] {
    if (a->greedy < 0) throw qread::InputError("--greedy must be >= 0");
    auto config = qread::load_config(a->config);
    qread::apply_overrides(config, a->overrides);
    for (const auto& note : config.notes) fmt::print(stderr, "qread: note: {}\n", note);
    const auto ids = qread::cli::read_input_ids(a->input_ids);
    auto span = a->question_span.empty() ? span_in_file(a->input_ids) : parse_span(a->question_span);
    if (span && span->end > std::int64_t(ids.size()))
      throw qread::InputError(fmt::format("question span [{}, {}) lies beyond the {} input ids", span->begin,
                                          span->end, ids.size()));
    auto model = qread::LanguageModel::load(a->model_dir, {a->device, a->dtype, {}, {}});
    model->configure_memory(config.attention, span);
    qread::GenerationOptions g;
    g.chunk_size = config.chunk_size;
    g.max_new_tokens = a->greedy;
    g.stop_at_eos = false;
    const auto result = model->generate(ids, g);
    const auto memory = model->memory_report();
    nlohmann::json out = {{"mode", qread::mode_name(config.attention.mode)},
                          {"device", model->summary().device},
                          {"dtype", model->summary().dtype},
                          {"input_tokens", ids.size()},
                          {"last_logits", result.last_logits},
                          {"greedy", result.tokens},
                          {"prefill_seconds", result.prefill_seconds},
                          {"decode_seconds", result.decode_seconds},
                          {"cache_hits", memory.cache_hits},
                          {"cache_misses", memory.cache_misses},
                          {"bytes_to_device", memory.bytes_to_device}};
    if (span) out["question_span"] = {span->begin, span->end};
    std::cout << out.dump() << '\n';
    return qread::cli::kExitOk;
  };
}

}  // namespace

QREAD_CLI_COMMAND("replay", setup_replay);
