// qread ask: read a document and answer a question about it with a context-memory mode (Q-LLM by
// default), streaming the answer; --json prints the answer with timings, memory and cited pages.
#include "command.hpp"
#include "progress.hpp"
#include "qread/config.hpp"
#include "qread/document.hpp"
#include "qread/error.hpp"
#include "qread/session.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <iostream>

namespace {

struct AskArgs {
  std::string model_dir, doc, question, config, mode = "qllm", device = "cpu", dtype = "auto";
  std::vector<std::string> overrides;
  int max_new_tokens = 256;
  bool json = false;
};

qread::cli::Runner setup_ask(CLI::App& app) {
  auto* cmd = app.add_subcommand("ask", "Answer a question about a document");
  auto a = std::make_shared<AskArgs>();
  cmd->add_option("--model", a->model_dir, "Hugging Face model folder")->required();
  cmd->add_option("--doc", a->doc, "PDF, text or Markdown file")->required();
  cmd->add_option("--question", a->question, "The question")->required();
  cmd->add_option("--config", a->config, "YAML run config (default: the built-in settings of --mode)");
  cmd->add_option("--mode", a->mode, "qllm, inf-llm, stream-llm, infinite-lm, quest, origin (without --config)")
      ->capture_default_str();
  cmd->add_option("--set", a->overrides, "Override a config key: key=value (repeatable)");
  cmd->add_option("--max-new-tokens", a->max_new_tokens)->capture_default_str();
  cmd->add_option("--device", a->device, "cpu, cuda or cuda:N")->capture_default_str();
  cmd->add_option("--dtype", a->dtype, "auto, float32, bfloat16, float16")->capture_default_str();
  cmd->add_flag("--json", a->json, "Print one JSON object with the answer, timings, memory and cited pages");
  return [a] {
    qread::RunConfig config;
    if (!a->config.empty()) {
      config = qread::load_config(a->config);
    } else {
      const auto mode = qread::parse_mode(a->mode);
      if (!mode) throw qread::InputError(fmt::format("--mode: '{}' is not a mode", a->mode));
      config = qread::default_config(*mode);
    }
    qread::apply_overrides(config, a->overrides);
    const auto& cancel = qread::cli::install_cancel_handler();
    qread::cli::ProgressBar bar;

    qread::LoadOptions load;
    load.cancelled = [&cancel] { return cancel.load(); };
    const auto document = qread::load_document(a->doc, load);
    qread::Reader reader(a->model_dir, {a->device, a->dtype, config.attention.base, config.attention.distance_scale});
    qread::AskOptions options;
    options.config = config;
    options.max_new_tokens = a->max_new_tokens;
    qread::AskEvents events;
    events.cancel = &cancel;
    // The answer streams to stdout once reading is done: the bar goes first.
    if (!a->json)
      events.text = [&bar](std::string_view piece) {
        bar.clear();
        std::cout << piece << std::flush;
      };
    events.reading = [&bar](std::int64_t done, std::int64_t total) { bar.update(done, total); };
    bar.start("reading");
    const auto answer = reader.ask(document, a->question, options, events);
    bar.clear();
    if (answer.stop_reason == "cancelled") {
      // What was streamed stays; no summary or JSON of a half-done answer.
      if (!a->json && !answer.text.empty()) std::cout << std::endl;
      fmt::print(stderr, "qread: cancelled\n");
      return qread::cli::kExitCancelled;
    }
    for (const auto& note : answer.notes) fmt::print(stderr, "qread: note: {}\n", note);
    if (!a->json) {
      std::cout << '\n';
      std::string cited;
      for (std::size_t i = 0; i < std::min<std::size_t>(answer.cited_pages.size(), 5); ++i)
        cited += fmt::format("{}{}", i ? ", " : "", answer.cited_pages[i].page);
      fmt::print(stderr, "[{}; {} tokens read in {:.1f} s; {} tokens, {:.0f} ms/token; stop: {}{}]\n", answer.mode,
                 answer.prompt_tokens, answer.prefill_seconds, answer.answer_tokens, answer.decode_ms_per_token(),
                 answer.stop_reason, cited.empty() ? "" : "; pages " + cited);
    } else {
      std::cout << qread::to_json(answer) << '\n';
    }
    return qread::cli::kExitOk;
  };
}

}  // namespace

QREAD_CLI_COMMAND("ask", setup_ask);
