// qread doc: prints what the model will read from a document, page by page, so that users can
// check the extraction (and tests can drive the loader through the CLI).
#include "command.hpp"
#include "qread/document.hpp"

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <atomic>
#include <csignal>
#include <iostream>

namespace {

std::atomic<bool> g_interrupted{false};

void on_interrupt(int) { g_interrupted = true; }

// Ctrl-C cancels the load (exit code 130) instead of killing the process mid-way.
class CancelOnInterrupt {
 public:
  CancelOnInterrupt() { previous_ = std::signal(SIGINT, on_interrupt); }
  ~CancelOnInterrupt() { std::signal(SIGINT, previous_); }
  CancelOnInterrupt(const CancelOnInterrupt&) = delete;
  CancelOnInterrupt& operator=(const CancelOnInterrupt&) = delete;

 private:
  void (*previous_)(int);
};

nlohmann::json to_json(const qread::Document& doc) {
  nlohmann::json pages = nlohmann::json::array();
  for (std::size_t i = 0; i < doc.pages().size(); ++i) {
    const qread::Page& page = doc.pages()[i];
    nlohmann::json entry = {{"number", page.number}, {"text", doc.page_text(i)}};
    if (!page.label.empty()) entry["label"] = page.label;
    pages.push_back(std::move(entry));
  }
  nlohmann::json sections = nlohmann::json::array();
  for (const qread::Section& s : doc.sections())
    sections.push_back({{"level", s.level}, {"title", s.title}, {"page", doc.page_of_offset(s.offset)}});
  return {{"source", doc.source().string()},
          {"kind", std::string(qread::to_string(doc.kind()))},
          {"pages", std::move(pages)},
          {"sections", std::move(sections)},
          {"warnings", doc.warnings()},
          {"text_bytes", doc.text().size()}};
}

void print_text(const qread::Document& doc) {
  for (std::size_t i = 0; i < doc.pages().size(); ++i) {
    const qread::Page& page = doc.pages()[i];
    if (page.label.empty())
      fmt::print("=== page {} ===\n", page.number);
    else
      fmt::print("=== page {} ({}) ===\n", page.number, page.label);
    const std::string_view text = doc.page_text(i);
    fmt::print("{}{}\n", text, text.empty() ? "" : "\n");
  }
}

qread::cli::Runner setup_doc(CLI::App& app) {
  struct Options {
    std::string file;
    bool json = false;
    bool quiet = false;
    std::string password;
    int threads = 0;
  };
  auto options = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("doc", "Print the text the model will read from a document, page by page");
  cmd->add_option("file", options->file, "PDF, Markdown (.md) or plain text file")->required();
  cmd->add_flag("--json", options->json, R"(Print one JSON object: {"pages": [{"number": 1, "text": "..."}, ...]})");
  cmd->add_option("--password", options->password, "Password of an encrypted PDF");
  cmd->add_option("--threads", options->threads,
                  "Threads reading PDF pages (0: one; more is faster on several cores and uses more memory)")
      ->check(CLI::Range(0, 256));
  cmd->add_flag("-q,--quiet", options->quiet, "No progress on stderr");
  return [options] {
    qread::LoadOptions load;
    load.password = options->password;
    load.threads = options->threads;
    const bool show_progress = !options->quiet && isatty(STDERR_FILENO);
    if (show_progress)
      load.progress = [](int done, int total) {
        fmt::print(stderr, "\rreading page {}/{}{}", done, total, done == total ? "\n" : "");
      };
    CancelOnInterrupt cancel_on_interrupt;
    g_interrupted = false;
    load.cancelled = [] { return g_interrupted.load(); };

    const qread::Document doc = qread::load_document(options->file, load);
    for (const std::string& warning : doc.warnings()) fmt::print(stderr, "qread: warning: {}\n", warning);
    if (options->json)
      std::cout << to_json(doc).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
    else
      print_text(doc);
    return qread::cli::kExitOk;
  };
}

}  // namespace

QREAD_CLI_COMMAND("doc", setup_doc);
