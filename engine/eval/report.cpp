// What the evaluation commands print and write: accuracy grids, results.json and plain-text
// tables.
#include "qread/eval.hpp"

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <limits>

namespace qread::eval {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double mib(long long bytes) { return double(bytes) / (1024.0 * 1024.0); }

// "32768" -> "32k" when it divides evenly, as the lengths are usually given.
std::string length_label(std::int64_t n) {
  if (n >= 1024 * 1024 && n % (1024 * 1024) == 0) return fmt::format("{}m", n / (1024 * 1024));
  if (n >= 1024 && n % 1024 == 0) return fmt::format("{}k", n / 1024);
  return std::to_string(n);
}

// At most `width` characters (code points) on one line, "..." where cut.
std::string shorten(std::string_view text, std::size_t width) {
  std::string line;
  for (char c : text) line += (c == '\n' || c == '\r' || c == '\t') ? ' ' : c;
  const auto first = line.find_first_not_of(' ');
  line = first == std::string::npos ? "" : line.substr(first);
  std::size_t chars = 0, cut = std::string::npos;
  for (std::size_t i = 0; i < line.size(); ++i) {
    if ((static_cast<unsigned char>(line[i]) & 0xC0) == 0x80) continue;  // inside a character
    if (chars == width - std::min<std::size_t>(width, 3)) cut = i;
    if (++chars > width) {
      return line.substr(0, cut) + "...";
    }
  }
  return line;
}

std::size_t display_width(std::string_view text) {
  std::size_t n = 0;
  for (char c : text) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

std::string pad(std::string_view text, std::size_t width) {
  return std::string(text) + std::string(width - std::min(width, display_width(text)), ' ');
}

}  // namespace

double AccuracyGrid::accuracy(std::size_t depth, std::size_t length) const {
  const auto i = depth * lengths.size() + length;
  return cases[i] > 0 ? double(correct[i]) / double(cases[i]) : kNaN;
}

double AccuracyGrid::overall() const {
  int c = 0, n = 0;
  for (std::size_t i = 0; i < cases.size(); ++i) c += correct[i], n += cases[i];
  return n > 0 ? double(c) / double(n) : kNaN;
}

std::vector<AccuracyGrid> accuracy_grids(const std::vector<EvalResult>& results, const EvalPlan& plan) {
  std::vector<AccuracyGrid> grids;
  for (const auto& config : plan.configs) {
    AccuracyGrid g;
    g.mode = mode_name(config.attention.mode);
    g.task = plan.task;
    g.lengths = plan.lengths;
    g.depths = plan.depths;
    g.correct.assign(g.lengths.size() * g.depths.size(), 0);
    g.cases.assign(g.correct.size(), 0);
    grids.push_back(std::move(g));
  }
  for (const auto& r : results) {
    if (r.stop_reason == "cancelled") continue;
    auto g = std::find_if(grids.begin(), grids.end(), [&](const AccuracyGrid& x) { return x.mode == r.mode; });
    const auto l = std::find(plan.lengths.begin(), plan.lengths.end(), r.length);
    const auto d = std::find(plan.depths.begin(), plan.depths.end(), r.depth);
    if (g == grids.end() || l == plan.lengths.end() || d == plan.depths.end()) continue;
    const auto i = std::size_t(d - plan.depths.begin()) * plan.lengths.size() + std::size_t(l - plan.lengths.begin());
    ++g->cases[i];
    g->correct[i] += r.correct ? 1 : 0;
  }
  return grids;
}

std::string results_json(const std::vector<EvalResult>& results, const EvalPlan& plan, const std::string& model,
                         int indent) {
  using nlohmann::json;
  json modes = json::array();
  for (const auto& config : plan.configs) modes.push_back(mode_name(config.attention.mode));
  json cases = json::array();
  for (const auto& r : results)
    cases.push_back({{"mode", r.mode},
                     {"task", task_name(r.task)},
                     {"length", r.length},
                     {"depth", r.depth},
                     {"case", r.case_index},
                     {"question", r.question},
                     {"expected", r.expected},
                     {"answer", r.answer},
                     {"correct", r.correct},
                     {"measured_depth", r.measured_depth},
                     {"prompt_tokens", r.prompt_tokens},
                     {"answer_tokens", r.answer_tokens},
                     {"prefill_seconds", r.prefill_seconds},
                     {"decode_seconds", r.decode_seconds},
                     {"prefill_tokens_per_second", r.prefill_tokens_per_second},
                     {"decode_ms_per_token", r.decode_ms_per_token},
                     {"host_peak_bytes", r.host_peak_bytes},
                     {"gpu_peak_bytes", r.gpu_peak_bytes},
                     {"stop_reason", r.stop_reason}});
  json accuracy = json::array();
  for (const auto& g : accuracy_grids(results, plan)) {
    json cells = json::array();
    for (std::size_t d = 0; d < g.depths.size(); ++d)
      for (std::size_t l = 0; l < g.lengths.size(); ++l) {
        const auto i = d * g.lengths.size() + l;
        cells.push_back({{"length", g.lengths[l]},
                         {"depth", g.depths[d]},
                         {"cases", g.cases[i]},
                         {"correct", g.correct[i]},
                         {"accuracy", g.cases[i] ? json(g.accuracy(d, l)) : json(nullptr)}});
      }
    const double all = g.overall();
    accuracy.push_back({{"mode", g.mode}, {"accuracy", std::isnan(all) ? json(nullptr) : json(all)}, {"cells", cells}});
  }
  const json out{{"task", task_name(plan.task)},
                 {"model", model},
                 {"seed", plan.seed},
                 {"lengths", plan.lengths},
                 {"depths", plan.depths},
                 {"modes", modes},
                 {"cases_per_cell", plan.cases_per_cell},
                 {"max_new_tokens", plan.max_new_tokens},
                 {"haystack", plan.haystack.empty() ? "generated" : "file"},
                 {"results", cases},
                 {"accuracy", accuracy}};
  return out.dump(indent);
}

std::string summary_table(const std::vector<AccuracyGrid>& grids) {
  if (grids.empty()) return {};
  std::size_t mode_width = 4;
  for (const auto& g : grids) mode_width = std::max(mode_width, g.mode.size());
  std::string out = fmt::format("{:<{}}", "mode", mode_width);
  for (auto length : grids.front().lengths) out += fmt::format(" {:>7}", length_label(length));
  out += fmt::format(" {:>7}\n", "all");
  for (const auto& g : grids) {
    out += fmt::format("{:<{}}", g.mode, mode_width);
    for (std::size_t l = 0; l < g.lengths.size(); ++l) {
      int c = 0, n = 0;
      for (std::size_t d = 0; d < g.depths.size(); ++d) {
        c += g.correct[d * g.lengths.size() + l];
        n += g.cases[d * g.lengths.size() + l];
      }
      out += n ? fmt::format(" {:>6.0f}%", 100.0 * c / n) : fmt::format(" {:>7}", "-");
    }
    const double all = g.overall();
    out += std::isnan(all) ? fmt::format(" {:>7}\n", "-") : fmt::format(" {:>6.0f}%\n", 100.0 * all);
  }
  return out;
}

std::string compare_table(const std::vector<Answer>& answers, std::size_t answer_width) {
  struct Row {
    std::vector<std::string> cells;
  };
  const std::vector<std::string> header{"mode",     "answer",  "prompt tok", "prefill s", "tok/s", "decode ms/tok",
                                        "host MiB", "GPU MiB", "cache hit",  "pages"};
  std::vector<Row> rows;
  for (const auto& a : answers) {
    std::string pages;
    for (std::size_t i = 0; i < std::min<std::size_t>(a.cited_pages.size(), 3); ++i)
      pages += fmt::format("{}{}", i ? "," : "", a.cited_pages[i].page);
    // (Answer's own rate functions live in the LibTorch library; this file does not.)
    const auto lookups = a.cache_hits + a.cache_misses;
    const double tokens_per_second = a.prefill_seconds > 0 ? double(a.prompt_tokens) / a.prefill_seconds : 0.0;
    const double ms_per_token = a.answer_tokens > 0 ? 1000.0 * a.decode_seconds / double(a.answer_tokens) : 0.0;
    std::string answer = shorten(a.text, answer_width);
    if (!a.error.empty()) answer = shorten("error: " + a.error, answer_width);
    if (a.stop_reason == "cancelled") answer = shorten("(cancelled) " + answer, answer_width);
    rows.push_back({{a.mode, answer, std::to_string(a.prompt_tokens), fmt::format("{:.2f}", a.prefill_seconds),
                     fmt::format("{:.0f}", tokens_per_second), fmt::format("{:.1f}", ms_per_token),
                     fmt::format("{:.0f}", mib(a.host_peak_bytes)), fmt::format("{:.0f}", mib(a.gpu_peak_bytes)),
                     lookups > 0 ? fmt::format("{:.0f}%", 100.0 * double(a.cache_hits) / double(lookups))
                                 : std::string("-"),
                     pages.empty() ? std::string("-") : pages}});
  }
  std::vector<std::size_t> width(header.size());
  for (std::size_t c = 0; c < header.size(); ++c) {
    width[c] = display_width(header[c]);
    for (const auto& r : rows) width[c] = std::max(width[c], display_width(r.cells[c]));
  }
  // Text columns to the left, numbers to the right.
  auto line = [&](const std::vector<std::string>& cells) {
    std::string out;
    for (std::size_t c = 0; c < cells.size(); ++c) {
      if (c) out += "  ";
      const bool left = c <= 1 || c + 1 == cells.size();
      const auto gap = std::string(width[c] - std::min(width[c], display_width(cells[c])), ' ');
      out += left ? pad(cells[c], c + 1 == cells.size() ? 0 : width[c]) : gap + cells[c];
    }
    return out + "\n";
  };
  std::string out = line(header);
  for (const auto& r : rows) out += line(r.cells);
  return out;
}

}  // namespace qread::eval
