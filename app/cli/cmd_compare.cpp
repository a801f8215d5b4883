// qread compare: one question about one document, answered by several context-memory modes one
// after another with the model loaded once; a table of answers, time and memory, or --json.
#include "command.hpp"
#include "progress.hpp"
#include "qread/config.hpp"
#include "qread/document.hpp"
#include "qread/error.hpp"
#include "qread/eval.hpp"
#include "qread/session.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <iostream>

namespace {

struct CompareArgs {
  std::string model_dir, doc, question, modes = "qllm,inf-llm,stream-llm,infinite-lm,quest,origin", config_dir;
  std::string device = "cpu", dtype = "auto";
  std::vector<std::string> overrides;
  int max_new_tokens = 64;
  bool json = false;
};

qread::cli::Runner setup_compare(CLI::App& app) {
  auto* cmd = app.add_subcommand("compare", "Answer one question with several modes, side by side");
  auto a = std::make_shared<CompareArgs>();
  cmd->add_option("--model", a->model_dir, "Hugging Face model folder or GGUF file")->required();
  cmd->add_option("--doc", a->doc, "PDF, text or Markdown file")->required();
  cmd->add_option("--question", a->question, "The question")->required();
  cmd->add_option("--modes", a->modes, "Comma-separated modes, run in this order")->capture_default_str();
  cmd->add_option("--config-dir", a->config_dir,
                  "Folder of YAML configs: <mode>.yaml, else the first file of that model.type "
                  "(default: built-in settings per mode)");
  cmd->add_option("--set", a->overrides, "Override a config key in every mode: key=value (repeatable)");
  cmd->add_option("--max-new-tokens", a->max_new_tokens)->capture_default_str();
  cmd->add_option("--device", a->device, "cpu, cuda or cuda:N")->capture_default_str();
  cmd->add_option("--dtype", a->dtype, "auto, float32, bfloat16, float16")->capture_default_str();
  cmd->add_flag("--json", a->json, "Print a JSON array with one answer per mode");
  return [a] {
    const auto& cancel = qread::cli::install_cancel_handler();
    std::optional<std::filesystem::path> config_dir;
    if (!a->config_dir.empty()) config_dir = a->config_dir;
    std::vector<qread::RunConfig> configs;
    for (const auto mode : qread::eval::parse_modes(a->modes)) {
      std::string source;
      auto config = qread::eval::config_for_mode(mode, config_dir, &source);
      if (!source.empty()) fmt::print(stderr, "qread: {}: {}\n", qread::mode_name(mode), source);
      // Keys of other modes (topk for stream-llm) are kept in the config and unused there.
      qread::apply_overrides(config, a->overrides);
      configs.push_back(std::move(config));
    }
    if (a->max_new_tokens < 0) throw qread::InputError("--max-new-tokens must be >= 0");

    qread::LoadOptions load;
    load.cancelled = [&cancel] { return cancel.load(); };
    const auto document = qread::load_document(a->doc, load);
    const auto& first = configs.front().attention;
    qread::Reader reader(a->model_dir, {a->device, a->dtype, first.base, first.distance_scale});

    qread::cli::ProgressBar bar;
    qread::eval::CompareEvents events;
    events.cancel = &cancel;
    events.mode_started = [&bar](const std::string& mode, int index, int total) {
      bar.start(fmt::format("{} {}/{}", mode, index + 1, total));
    };
    events.reading = [&bar](std::int64_t done, std::int64_t total) { bar.update(done, total); };
    const auto answers =
        qread::eval::compare_modes(reader, document, a->question, configs, a->max_new_tokens, events);
    bar.clear();
    if (!answers.empty() && answers.back().stop_reason == "cancelled") {
      fmt::print(stderr, "qread: cancelled\n");
      return qread::cli::kExitCancelled;
    }
    bool failed = false;
    for (const auto& answer : answers) {
      for (const auto& note : answer.notes) fmt::print(stderr, "qread: note: {}: {}\n", answer.mode, note);
      if (!answer.error.empty()) fmt::print(stderr, "qread: error: {}: {}\n", answer.mode, answer.error);
      failed = failed || !answer.error.empty();
    }
    if (a->json) {
      std::cout << qread::to_json(answers) << '\n';
    } else {
      // The prompt's size from a mode that read it (a refused mode's answer has none).
      const auto read = std::find_if(answers.begin(), answers.end(), [](const auto& x) { return x.error.empty(); });
      const auto& shown = read == answers.end() ? answers.front() : *read;
      fmt::print("{} ({} prompt tokens, {} {})\n", a->question, shown.prompt_tokens, shown.device, shown.dtype);
      std::cout << qread::eval::compare_table(answers) << std::flush;
    }
    // Every answer is printed; a mode that could not read the document makes it a bad-input exit.
    return failed ? qread::cli::kExitBadInput : qread::cli::kExitOk;
  };
}

}  // namespace

QREAD_CLI_COMMAND("compare", setup_compare);
