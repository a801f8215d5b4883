// Running evaluations and comparisons through one Reader (the model is loaded once).
#include "qread/chat_template.hpp"
#include "qread/error.hpp"
#include "qread/eval.hpp"
#include "qread/memory_budget.hpp"
#include "qread/prompt.hpp"

#include <fmt/core.h>

#include <algorithm>

namespace qread::eval {
namespace {

// The tokens that the chat and task templates add around a document, for a question.
PromptOverhead prompt_overhead(const Reader& reader, const RunConfig& config, int max_new_tokens) {
  auto chat = std::make_shared<model::ChatTemplate>(reader.chat_template(config.conv_type));
  const auto* tokenizer = &reader.tokenizer();
  return [chat, tokenizer, max_new_tokens](const std::string& question) {
    PromptOptions options;
    options.max_new_tokens = max_new_tokens;
    const Document empty = make_document("", "empty");
    return std::int64_t(build_document_prompt(empty, question, *tokenizer, *chat, options).ids.size());
  };
}

// Seeds of one case: different for every (task, length, depth, case), the same for every mode.
std::uint64_t case_seed(std::uint64_t seed, Task task, std::int64_t length, std::size_t depth, int index) {
  std::uint64_t x = seed;
  for (std::uint64_t part : {std::uint64_t(task), std::uint64_t(length), std::uint64_t(depth), std::uint64_t(index)}) {
    x ^= part + 0x9e3779b97f4a7c15ULL + (x << 6) + (x >> 2);
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;  // splitmix64's mixer
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    x ^= x >> 31;
  }
  return x;
}

}  // namespace

std::vector<EvalResult> run_eval(Reader& reader, const EvalPlan& plan, const EvalEvents& events) {
  if (plan.configs.empty()) throw InputError("no modes to evaluate");
  if (plan.lengths.empty() || plan.depths.empty()) throw InputError("no lengths or depths to evaluate");
  if (plan.cases_per_cell < 1)
    throw InputError(fmt::format("--cases-per-cell must be at least 1, got {}", plan.cases_per_cell));
  for (const auto& config : plan.configs) validate(config, fmt::format("the {} config", mode_name(config.attention.mode)));
  const auto overhead = prompt_overhead(reader, plan.configs.front(), plan.max_new_tokens);

  // The cases first (bad lengths fail before anything is read), shared by all modes.
  struct Planned {
    EvalCase c;
    std::int64_t length;
    double depth;
    int index;
  };
  std::vector<Planned> cases;
  for (auto length : plan.lengths)
    for (std::size_t d = 0; d < plan.depths.size(); ++d)
      for (int i = 0; i < plan.cases_per_cell; ++i) {
        CaseRequest request;
        request.task = plan.task;
        request.length = length;
        request.depth = plan.depths[d];
        request.seed = case_seed(plan.seed, plan.task, length, d, i);
        request.haystack_seed = plan.seed;
        request.haystack = plan.haystack;
        cases.push_back({make_case(request, reader.tokenizer(), overhead), length, plan.depths[d], i});
        if (events.cancel && events.cancel->load()) throw Cancelled();
      }

  // Every mode must hold the longest case in this machine's memory: said before anything is read
  // (a long evaluation would otherwise stop at its first case too long, its results lost).
  const auto longest = *std::max_element(plan.lengths.begin(), plan.lengths.end()) + plan.max_new_tokens;
  const auto room = memory_room(reader.summary().device);
  for (const auto& config : plan.configs)
    check_memory_room(reader.summary(), config.attention, longest, room, "eval: the longest case",
                      /*suggest_max_len=*/false);

  std::vector<EvalResult> results;
  const int total = int(plan.configs.size() * cases.size());
  for (const auto& config : plan.configs) {
    AskOptions options;
    options.config = config;
    options.max_new_tokens = plan.max_new_tokens;
    AskEvents ask_events;
    ask_events.reading = events.reading;
    ask_events.cancel = events.cancel;
    for (const auto& planned : cases) {
      EvalResult r;
      r.mode = mode_name(config.attention.mode);
      r.task = plan.task;
      r.length = planned.length;
      r.depth = planned.depth;
      r.case_index = planned.index;
      r.question = planned.c.question;
      r.expected = planned.c.expected;
      r.measured_depth = planned.c.measured_depth();
      if (events.case_started) events.case_started(r, int(results.size()), total);
      const auto name = fmt::format("{}-{}-{}-{}", task_name(plan.task), planned.length, planned.depth, planned.index);
      const auto answer = reader.ask(make_document(planned.c.text, name), r.question, options, ask_events);
      r.answer = answer.text;
      r.correct = answer.stop_reason != "cancelled" && is_correct(answer.text, r.expected);
      r.prompt_tokens = answer.prompt_tokens;
      r.answer_tokens = answer.answer_tokens;
      r.prefill_seconds = answer.prefill_seconds;
      r.decode_seconds = answer.decode_seconds;
      r.prefill_tokens_per_second = answer.prefill_tokens_per_second();
      r.decode_ms_per_token = answer.decode_ms_per_token();
      r.host_peak_bytes = answer.host_peak_bytes;
      r.gpu_peak_bytes = answer.gpu_peak_bytes;
      r.stop_reason = answer.stop_reason;
      results.push_back(r);
      if (events.case_finished) events.case_finished(results.back());
      if (answer.stop_reason == "cancelled") return results;
    }
  }
  return results;
}

std::vector<Answer> compare_modes(Reader& reader, const Document& document, const std::string& question,
                                  const std::vector<RunConfig>& configs, int max_new_tokens,
                                  const CompareEvents& events) {
  // Every config is checked before the first mode reads anything.
  for (const auto& config : configs) validate(config, fmt::format("the {} config", mode_name(config.attention.mode)));
  std::vector<Answer> answers;
  AskEvents ask_events;
  ask_events.reading = events.reading;
  ask_events.cancel = events.cancel;
  for (std::size_t i = 0; i < configs.size(); ++i) {
    if (events.mode_started) events.mode_started(mode_name(configs[i].attention.mode), int(i), int(configs.size()));
    AskOptions options;
    options.config = configs[i];
    options.max_new_tokens = max_new_tokens;
    try {
      answers.push_back(reader.ask(document, question, options, ask_events));
    } catch (const InputError& e) {
      // This mode cannot read the document (it does not fit in memory, say): an error answer,
      // and the other modes go on, their answers kept.
      Answer refused = reader.answer_for(document, question, options);
      refused.stop_reason = "error";
      refused.error = e.what();
      answers.push_back(std::move(refused));
    }
    if (answers.back().stop_reason == "cancelled") break;
  }
  return answers;
}

}  // namespace qread::eval
