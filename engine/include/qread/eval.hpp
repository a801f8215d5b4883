// Evaluation: synthetic long-context retrieval tasks (`qread eval`) and side-by-side answers of
// several modes (`qread compare`). Three tasks, each a document of a target length in tokens of
// the model's tokenizer with one fact hidden at a relative depth:
//   needle   a sentence "The special magic number for Paris is 4815162." in a haystack (any
//            text file, or generated sentences)
//   passkey  "The pass key is 71432. Remember it." in the classic "The grass is green. The sky
//            is blue. ..." filler
//   kv       InfiniteBench's kv_retrieval: a JSON object of random UUID keys -> UUID values; the
//            question asks for the value of the key at the depth
// An answer is correct when it contains the expected value. Cases are seeded: the same seed
// gives the same documents, needles and keys. Plain C++ types only.
#pragma once

#include "qread/config.hpp"
#include "qread/session.hpp"

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace qread {

namespace model {
class Tokenizer;
}

namespace eval {

enum class Task { needle, passkey, kv };

// "needle", "passkey", "kv".
const char* task_name(Task task);
std::optional<Task> parse_task(std::string_view name);

// --- parsing of the command lines' lists (throw InputError naming `option` and the value) ---

// "4096", "32k" (x1024), "1m" (x1048576).
std::int64_t parse_length(std::string_view text, std::string_view option = "--lengths");
// Comma-separated lengths: "2k,4k".
std::vector<std::int64_t> parse_lengths(std::string_view list, std::string_view option = "--lengths");
// Comma-separated relative depths in [0, 1]: "0,0.25,0.5".
std::vector<double> parse_depths(std::string_view list, std::string_view option = "--depths");
// Comma-separated mode names: "qllm,inf-llm"; duplicates are an error.
std::vector<MemoryMode> parse_modes(std::string_view list, std::string_view option = "--modes");

// The run config of `mode`: without `config_dir` the built-in defaults (default_config); with it
// DIR/<mode>.yaml when present, else the first *.yaml of DIR (by name) whose model.type is
// `mode`, else the defaults. `source`, when given, receives the file used ("" for defaults).
RunConfig config_for_mode(MemoryMode mode, const std::optional<std::filesystem::path>& config_dir,
                          std::string* source = nullptr);

// --- cases ---

struct CaseRequest {
  Task task = Task::needle;
  std::int64_t length = 4096;  // prompt tokens wanted (document + the prompt around it)
  double depth = 0.5;          // where the fact sits: 0 start of the document, 1 its end
  std::uint64_t seed = 0;      // the needle, passkey or keys
  std::uint64_t haystack_seed = 0;  // the generated haystack (needle without a haystack text)
  // Needle task: the haystack text (repeated as needed); empty: generated sentences.
  std::string_view haystack;
};

// Tokens the prompt adds around a document for a question (chat and task template), so that
// the document can be sized to make the whole prompt `length` tokens long. Empty: none.
using PromptOverhead = std::function<std::int64_t(const std::string& question)>;

struct EvalCase {
  Task task = Task::needle;
  std::int64_t length = 0;    // as requested
  double depth = 0;           // as requested
  std::string text;           // the document
  std::string question;
  std::string expected;       // the value a correct answer contains
  std::size_t needle_offset = 0, needle_size = 0;  // the fact's bytes in `text`
  std::size_t body_offset = 0;       // where the filler starts, after the task's preamble
  std::int64_t document_tokens = 0;  // tokens of `text` (measured)
  std::int64_t body_tokens = 0;      // tokens of text[body_offset, end) (measured)
  std::int64_t needle_token = 0;     // tokens of text[body_offset, needle_offset) (measured)
  std::int64_t needle_tokens = 0;    // tokens of the fact itself

  // Where the fact sits, measured: filler tokens before it / all filler tokens.
  double measured_depth() const;
};

// Builds one case. Throws InputError when `length` leaves no room for the document.
EvalCase make_case(const CaseRequest& request, const model::Tokenizer& tokenizer,
                   const PromptOverhead& overhead = {});

// Whether `answer` contains `expected` (the scorer of all three tasks).
bool is_correct(std::string_view answer, std::string_view expected);

// A few hundred generated English sentences (seeded), the needle task's default haystack.
std::string generated_haystack(std::uint64_t seed, std::size_t sentences = 400);

// A Document of one text page made from generated text, for Reader::ask.
Document make_document(const std::string& text, const std::string& name);

// --- running ---

struct EvalPlan {
  Task task = Task::needle;
  std::vector<std::int64_t> lengths;
  std::vector<double> depths;
  std::vector<RunConfig> configs;  // one per mode, in order
  int cases_per_cell = 1;
  std::uint64_t seed = 0;
  std::string haystack;            // needle task; empty: generated
  int max_new_tokens = 32;
};

struct EvalResult {
  std::string mode;
  Task task = Task::needle;
  std::int64_t length = 0;
  double depth = 0;
  int case_index = 0;
  std::string question, expected, answer;
  bool correct = false;
  double measured_depth = 0;
  std::int64_t prompt_tokens = 0, answer_tokens = 0;
  double prefill_seconds = 0, decode_seconds = 0;
  double prefill_tokens_per_second = 0, decode_ms_per_token = 0;
  long long host_peak_bytes = 0, gpu_peak_bytes = 0;
  std::string stop_reason;
};

struct EvalEvents {
  // Before each ask: the case's place in the whole run (0-based) and the number of asks.
  std::function<void(const EvalResult& about_to_run, int index, int total)> case_started;
  // Reading progress of the current ask (tokens done, total).
  std::function<void(std::int64_t done, std::int64_t total)> reading;
  std::function<void(const EvalResult& result)> case_finished;
  const std::atomic<bool>* cancel = nullptr;
};

// Runs every mode on every (length, depth, case), the cases made once and shared by the modes.
// Stops at a cancel: the last result then has stop_reason "cancelled".
std::vector<EvalResult> run_eval(Reader& reader, const EvalPlan& plan, const EvalEvents& events = {});

// Accuracy per (length, depth) of one mode.
struct AccuracyGrid {
  std::string mode;
  Task task = Task::needle;
  std::vector<std::int64_t> lengths;
  std::vector<double> depths;
  std::vector<int> correct, cases;  // [depth * lengths.size() + length]

  double accuracy(std::size_t depth, std::size_t length) const;  // NaN without cases
  double overall() const;                                       // NaN without cases
};
std::vector<AccuracyGrid> accuracy_grids(const std::vector<EvalResult>& results, const EvalPlan& plan);

// results.json: the plan, each case's result and each mode's accuracy grid.
std::string results_json(const std::vector<EvalResult>& results, const EvalPlan& plan,
                         const std::string& model, int indent = 2);
// A plain-text summary: one row per mode, one column per length (accuracy over the depths).
std::string summary_table(const std::vector<AccuracyGrid>& grids);

// --- compare ---

struct CompareEvents {
  std::function<void(const std::string& mode, int index, int total)> mode_started;
  std::function<void(std::int64_t done, std::int64_t total)> reading;
  const std::atomic<bool>* cancel = nullptr;
};

// Asks the question once per config, one after another, with the same Reader. Stops at a
// cancel (the last answer then has stop_reason "cancelled"). A mode whose ask throws InputError
// (the document does not fit in memory in that mode, say) gets an answer with stop_reason
// "error" and the message, and the others go on.
std::vector<Answer> compare_modes(Reader& reader, const Document& document, const std::string& question,
                                  const std::vector<RunConfig>& configs, int max_new_tokens,
                                  const CompareEvents& events = {});

// One row per answer: mode, answer (shortened to `answer_width` characters), prompt tokens,
// prefill s, tokens/s, decode ms/token, peak host / GPU memory, cache hit rate, top pages.
std::string compare_table(const std::vector<Answer>& answers, std::size_t answer_width = 40);

}  // namespace eval
}  // namespace qread
