// Asking questions about a document: the one path the CLI (`ask`, `compare`, `eval`) and the
// desktop app share. A Reader holds a loaded model with its tokenizer and chat template; ask()
// builds the prompt, selects the memory mode, reads the document, streams the answer and says
// what happened: timings per phase, memory, the GPU cache, which memory blocks each layer
// retrieved (the hit map, with token offsets mapped to pages) and the pages the answer drew on.
// Plain C++ types only.
#pragma once

#include "qread/config.hpp"
#include "qread/document.hpp"
#include "qread/language_model.hpp"

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace qread {

namespace model {
class Tokenizer;
class ChatTemplate;
}  // namespace model

struct AskOptions {
  RunConfig config;  // mode, memory settings, max_len, chunk_size, conv_type
  int max_new_tokens = 256;
  SamplingOptions sampling;  // greedy by default
};

// One memory block (InfLLM / Q-LLM) as the hit map shows it.
struct MemoryBlock {
  std::int64_t token_begin = 0, token_end = 0;  // [begin, end) in the prompt
  PageRange pages;                              // {0, 0}: no document text in it (the template)
  std::size_t text_begin = 0, text_end = 0;     // its document text: bytes of Document::text()
};

// Which memory blocks the layers retrieved, counted per (layer, block).
struct HitMap {
  std::int64_t layers = 0;
  std::vector<MemoryBlock> blocks;          // in document order
  std::vector<std::int64_t> answer_hits;    // [layer * blocks.size() + block], from the last prompt token on
  std::vector<std::int64_t> read_hits;      // the same while the document was read (prefill)

  bool empty() const { return blocks.empty(); }
  std::int64_t answer(std::int64_t layer, std::size_t block) const {
    return answer_hits[std::size_t(layer) * blocks.size() + block];
  }
  std::int64_t read(std::int64_t layer, std::size_t block) const {
    return read_hits[std::size_t(layer) * blocks.size() + block];
  }
};

struct CitedPage {
  int page = 0;
  std::int64_t retrievals = 0;  // block retrievals (all layers) while answering
  bool operator==(const CitedPage&) const = default;
};

// Cumulative prefill progress, one sample per progress report.
struct PrefillSample {
  std::int64_t tokens = 0;
  double seconds = 0;
  bool operator==(const PrefillSample&) const = default;
};

struct Answer {
  std::string question;
  std::string text;          // the answer as streamed
  std::string stop_reason;   // "eos", "max_new_tokens", "cancelled", "error"
  std::string error;         // with stop_reason "error": what went wrong
  std::string mode;          // "qllm", ...
  std::string config_yaml;   // the full run config (to_yaml)
  std::string model;         // model folder or file
  std::string document;      // document path
  int document_pages = 0;
  std::string device, dtype;
  std::int64_t prompt_tokens = 0, answer_tokens = 0, dropped_tokens = 0;
  std::optional<TokenSpan> question_span;
  double tokenize_seconds = 0, prefill_seconds = 0, decode_seconds = 0;
  std::vector<PrefillSample> prefill_progress;
  long long host_peak_bytes = 0, gpu_peak_bytes = 0;
  std::int64_t cache_hits = 0, cache_misses = 0, bytes_to_device = 0;
  HitMap hit_map;
  std::vector<CitedPage> cited_pages;  // most retrieved first
  std::vector<std::string> notes;      // things the user should know (config notes, question not found)
  std::string finished_at;             // ISO 8601 UTC

  double prefill_tokens_per_second() const;
  double decode_ms_per_token() const;
  double cache_hit_rate() const;  // 0..1; 0 without lookups
};

// JSON of an answer (the CLI's --json, the app's autosave and export) and back. answer_from_json
// throws InputError naming the field at fault.
std::string to_json(const Answer& answer, int indent = 2);
Answer answer_from_json(std::string_view json);
// Several answers: a JSON array.
std::string to_json(const std::vector<Answer>& answers, int indent = 2);
std::vector<Answer> answers_from_json(std::string_view json);

struct AskEvents {
  // While the document is read: prompt tokens done and in all (from the calling thread).
  std::function<void(std::int64_t done, std::int64_t total)> reading;
  // Each piece of the answer as it is decoded (whole UTF-8 characters).
  std::function<void(std::string_view piece)> text;
  // Polled during reading (after every layer) and between answer tokens.
  const std::atomic<bool>* cancel = nullptr;
};

class Reader {
 public:
  // Loads the model (HF folder or .gguf file), its tokenizer and chat template. Throws
  // InputError naming what is wrong with the folder or file.
  explicit Reader(const std::filesystem::path& model, const ModelOptions& options = {});
  ~Reader();
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  const ModelSummary& summary() const;
  const std::filesystem::path& model_path() const { return model_path_; }
  const model::Tokenizer& tokenizer() const { return *tokenizer_; }
  // The chat template of a run config's `conv_type`: the named one, or the model's own when empty.
  model::ChatTemplate chat_template(const std::string& conv_type) const;

  // Answers `question` about `document`. Cancel returns what was answered so far with
  // stop_reason "cancelled". Throws InputError for a bad question or config (nothing is read).
  Answer ask(const Document& document, const std::string& question, const AskOptions& options,
             const AskEvents& events = {});
  // What is known of an answer before reading: the question, mode, config (and its notes), model,
  // document and device. ask() starts from it; a caller reporting a refused ask adds the error.
  Answer answer_for(const Document& document, const std::string& question, const AskOptions& options) const;

 private:
  std::filesystem::path model_path_;
  std::unique_ptr<model::Tokenizer> tokenizer_;
  std::string default_conv_type_;  // detected from the model's files once
  std::unique_ptr<LanguageModel> model_;
};

// The hit map and cited pages of a memory report, with blocks mapped to pages through the
// prompt's token -> text offsets. Retrievals at or after `answer_from` count as answering.
struct DocumentPrompt;
HitMap make_hit_map(const MemoryReport& report, std::int64_t layers, const DocumentPrompt& prompt,
                    const Document& document, std::int64_t answer_from);
std::vector<CitedPage> cited_pages(const HitMap& map);

}  // namespace qread
