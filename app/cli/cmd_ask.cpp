// qread ask: read a document and answer a question about it with a context-memory mode (Q-LLM by
// default), streaming the answer; --json prints the answer with timings, memory and cited pages.
#include "command.hpp"
#include "qread/config.hpp"
#include "qread/document.hpp"
#include "qread/error.hpp"
#include "qread/language_model.hpp"
#include "qread/prompt.hpp"
#include "qread/runtime.hpp"

#include <fmt/core.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <iostream>
#include <map>

namespace {

std::atomic<bool> g_cancel{false};

struct AskArgs {
  std::string model_dir, doc, question, config, mode = "qllm", device = "cpu", dtype = "auto";
  std::vector<std::string> overrides;
  int max_new_tokens = 256;
  bool json = false;
};

// Pages the answer drew on: the pages of the blocks retrieved from the last prompt token on,
// weighted by how often they were retrieved (all layers together).
std::vector<std::pair<int, std::int64_t>> cited_pages(const qread::MemoryReport& report,
                                                      const qread::DocumentPrompt& prompt,
                                                      const qread::Document& document, std::int64_t from_query) {
  std::map<int, std::int64_t> hits;
  for (const auto& r : report.retrievals) {
    if (r.query_start < from_query) continue;
    for (auto start : r.block_starts)
      for (std::int64_t t = start; t < start + report.block_size && t < std::int64_t(prompt.text_offsets.size()); ++t)
        if (prompt.text_offsets[t] >= 0) {
          ++hits[document.page_of_offset(std::size_t(prompt.text_offsets[t]))];
          break;  // one hit per block: its first token inside the document
        }
  }
  std::vector<std::pair<int, std::int64_t>> pages(hits.begin(), hits.end());
  std::stable_sort(pages.begin(), pages.end(), [](auto& a, auto& b) { return a.second > b.second; });
  return pages;
}

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
    for (const auto& note : config.notes) fmt::print(stderr, "qread: note: {}\n", note);
    const bool tty = isatty(STDERR_FILENO) && !a->json;
    std::signal(SIGINT, [](int) { g_cancel = true; });

    qread::LoadOptions load;
    load.cancelled = [] { return g_cancel.load(); };
    const auto document = qread::load_document(a->doc, load);
    auto tokenizer = qread::model::load_tokenizer(a->model_dir);
    const auto chat = qread::model::ChatTemplate::by_name(
        config.conv_type.empty() ? qread::model::detect_chat_template(a->model_dir) : config.conv_type);
    qread::PromptOptions prompt_options;
    prompt_options.max_len = config.max_len;
    prompt_options.truncation = config.truncation;
    prompt_options.max_new_tokens = a->max_new_tokens;
    const auto prompt = qread::build_document_prompt(document, a->question, *tokenizer, chat, prompt_options);
    if (config.attention.mode == qread::MemoryMode::qllm && !prompt.question)
      fmt::print(stderr, "qread: note: the question's tokens were not found in the prompt; Q-LLM runs without "
                         "a question vector\n");

    auto model = qread::LanguageModel::load(a->model_dir, {a->device, a->dtype, config.attention.base,
                                                           config.attention.distance_scale});
    model->configure_memory(config.attention, prompt.question);
    qread::GenerationOptions g;
    g.chunk_size = config.chunk_size;
    g.max_new_tokens = a->max_new_tokens;
    for (const auto& stop : chat.stop_tokens())
      if (auto id = tokenizer->token_to_id(stop)) g.stop_ids.push_back(*id);

    qread::model::StreamDecoder stream(*tokenizer);
    std::string answer;
    auto on_token = [&](qread::TokenId id) {
      const auto piece = stream.push(id);
      answer += piece;
      if (!a->json) std::cout << piece << std::flush;
      return true;
    };
    auto progress = [&](std::int64_t done, std::int64_t total) {
      if (tty) fmt::print(stderr, "\rreading {:3.0f}% ({} / {} tokens)", 100.0 * double(done) / double(total), done, total);
    };
    const auto result = model->generate(prompt.ids, g, on_token, progress, &g_cancel);
    if (tty) fmt::print(stderr, "\r\033[K");
    const auto tail = stream.finish();
    answer += tail;
    const auto report = model->memory_report();
    const auto pages = cited_pages(report, prompt, document, std::int64_t(prompt.ids.size()) - 1);
    const auto memory = qread::memory_usage();
    if (!a->json) {
      std::cout << tail << '\n';
      std::string cited;
      for (std::size_t i = 0; i < std::min<std::size_t>(pages.size(), 5); ++i)
        cited += fmt::format("{}{}", i ? ", " : "", pages[i].first);
      fmt::print(stderr, "[{}; {} tokens read in {:.1f} s; {} tokens, {:.0f} ms/token; stop: {}{}]\n",
                 qread::mode_name(config.attention.mode), result.prompt_tokens, result.prefill_seconds,
                 result.tokens.size(),
                 result.tokens.empty() ? 0.0 : 1000.0 * result.decode_seconds / double(result.tokens.size()),
                 result.stop_reason, cited.empty() ? "" : "; pages " + cited);
    } else {
      nlohmann::json cited = nlohmann::json::array();
      for (const auto& [page, hits] : pages) cited.push_back({{"page", page}, {"retrievals", hits}});
      nlohmann::json out = {
          {"answer", answer},
          {"stop_reason", result.stop_reason},
          {"mode", qread::mode_name(config.attention.mode)},
          {"config", qread::to_yaml(config)},
          {"document", {{"path", a->doc}, {"pages", document.pages().size()}}},
          {"prompt_tokens", result.prompt_tokens},
          {"dropped_tokens", prompt.dropped_tokens},
          {"question_span", prompt.question ? nlohmann::json{prompt.question->begin, prompt.question->end} : nlohmann::json()},
          {"answer_tokens", result.tokens.size()},
          {"timings", {{"prefill_seconds", result.prefill_seconds}, {"decode_seconds", result.decode_seconds}}},
          {"memory", {{"host_peak_bytes", memory.host_peak_bytes}, {"gpu_peak_bytes", memory.gpu_peak_bytes},
                      {"cache_hits", report.cache_hits}, {"cache_misses", report.cache_misses},
                      {"bytes_to_device", report.bytes_to_device}}},
          {"cited_pages", cited}};
      std::cout << out.dump(2) << '\n';
    }
    return result.stop_reason == "cancelled" ? qread::cli::kExitCancelled : qread::cli::kExitOk;
  };
}

}  // namespace

QREAD_CLI_COMMAND("ask", setup_ask);
