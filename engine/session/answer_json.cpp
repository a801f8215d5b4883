// Answers as JSON: what `qread ask --json` prints, what the app autosaves and exports.
#include "qread/error.hpp"
#include "qread/session.hpp"

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include <array>

namespace qread {
namespace {

using nlohmann::json;

json hit_map_json(const HitMap& map) {
  json blocks = json::array();
  for (const auto& b : map.blocks)
    blocks.push_back({{"tokens", {b.token_begin, b.token_end}},
                      {"pages", {b.pages.first, b.pages.last}},
                      {"text", {b.text_begin, b.text_end}}});
  return {{"layers", map.layers}, {"blocks", blocks}, {"answer_hits", map.answer_hits}, {"read_hits", map.read_hits}};
}

json answer_json(const Answer& a) {
  json cited = json::array();
  for (const auto& c : a.cited_pages) cited.push_back({{"page", c.page}, {"retrievals", c.retrievals}});
  json progress = json::array();
  for (const auto& p : a.prefill_progress) progress.push_back({p.tokens, p.seconds});
  json out = {
      {"question", a.question},
      {"answer", a.text},
      {"stop_reason", a.stop_reason},
      {"mode", a.mode},
      {"config", a.config_yaml},
      {"model", a.model},
      {"device", a.device},
      {"dtype", a.dtype},
      {"document", {{"path", a.document}, {"pages", a.document_pages}}},
      {"prompt_tokens", a.prompt_tokens},
      {"dropped_tokens", a.dropped_tokens},
      {"question_span", a.question_span ? json{a.question_span->begin, a.question_span->end} : json()},
      {"answer_tokens", a.answer_tokens},
      {"timings",
       {{"tokenize_seconds", a.tokenize_seconds},
        {"prefill_seconds", a.prefill_seconds},
        {"decode_seconds", a.decode_seconds},
        {"prefill_tokens_per_second", a.prefill_tokens_per_second()},
        {"decode_ms_per_token", a.decode_ms_per_token()},
        {"prefill_progress", progress}}},
      {"memory",
       {{"host_peak_bytes", a.host_peak_bytes},
        {"gpu_peak_bytes", a.gpu_peak_bytes},
        {"cache_hits", a.cache_hits},
        {"cache_misses", a.cache_misses},
        {"bytes_to_device", a.bytes_to_device}}},
      {"cited_pages", cited},
      {"hit_map", hit_map_json(a.hit_map)},
      {"notes", a.notes},
      {"finished_at", a.finished_at}};
  if (!a.error.empty()) out["error"] = a.error;
  return out;
}

// Reads `key` of `object` into `value`, naming the field on a type mismatch; absent keys keep
// the default (older files, fewer fields).
template <typename T>
void read(const json& object, const char* key, T& value, const std::string& where) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return;
  try {
    value = it->get<T>();
  } catch (const json::exception&) {
    throw InputError(fmt::format("{}: field '{}' has the wrong type ({})", where, key, it->type_name()));
  }
}

const json& object_at(const json& parent, const char* key, const std::string& where) {
  static const json empty = json::object();
  auto it = parent.find(key);
  if (it == parent.end() || it->is_null()) return empty;
  if (!it->is_object()) throw InputError(fmt::format("{}: field '{}' is not an object", where, key));
  return *it;
}

Answer answer_of(const json& o, const std::string& where) {
  if (!o.is_object()) throw InputError(fmt::format("{}: an answer must be a JSON object", where));
  Answer a;
  read(o, "question", a.question, where);
  read(o, "answer", a.text, where);
  read(o, "stop_reason", a.stop_reason, where);
  read(o, "error", a.error, where);
  read(o, "mode", a.mode, where);
  read(o, "config", a.config_yaml, where);
  read(o, "model", a.model, where);
  read(o, "device", a.device, where);
  read(o, "dtype", a.dtype, where);
  const auto& doc = object_at(o, "document", where);
  read(doc, "path", a.document, where + ".document");
  read(doc, "pages", a.document_pages, where + ".document");
  read(o, "prompt_tokens", a.prompt_tokens, where);
  read(o, "dropped_tokens", a.dropped_tokens, where);
  std::vector<std::int64_t> span;
  read(o, "question_span", span, where);
  if (!span.empty()) {
    if (span.size() != 2) throw InputError(fmt::format("{}: field 'question_span' must be [begin, end]", where));
    a.question_span = TokenSpan{span[0], span[1]};
  }
  read(o, "answer_tokens", a.answer_tokens, where);
  const auto& t = object_at(o, "timings", where);
  read(t, "tokenize_seconds", a.tokenize_seconds, where + ".timings");
  read(t, "prefill_seconds", a.prefill_seconds, where + ".timings");
  read(t, "decode_seconds", a.decode_seconds, where + ".timings");
  std::vector<std::pair<std::int64_t, double>> progress;
  read(t, "prefill_progress", progress, where + ".timings");
  for (const auto& [tokens, seconds] : progress) a.prefill_progress.push_back({tokens, seconds});
  const auto& m = object_at(o, "memory", where);
  read(m, "host_peak_bytes", a.host_peak_bytes, where + ".memory");
  read(m, "gpu_peak_bytes", a.gpu_peak_bytes, where + ".memory");
  read(m, "cache_hits", a.cache_hits, where + ".memory");
  read(m, "cache_misses", a.cache_misses, where + ".memory");
  read(m, "bytes_to_device", a.bytes_to_device, where + ".memory");
  if (auto it = o.find("cited_pages"); it != o.end() && !it->is_null()) {
    if (!it->is_array()) throw InputError(fmt::format("{}: field 'cited_pages' is not an array", where));
    for (const auto& c : *it) {
      CitedPage page;
      read(c, "page", page.page, where + ".cited_pages");
      read(c, "retrievals", page.retrievals, where + ".cited_pages");
      a.cited_pages.push_back(page);
    }
  }
  const auto& h = object_at(o, "hit_map", where);
  const std::string hw = where + ".hit_map";
  read(h, "layers", a.hit_map.layers, hw);
  read(h, "answer_hits", a.hit_map.answer_hits, hw);
  read(h, "read_hits", a.hit_map.read_hits, hw);
  if (auto it = h.find("blocks"); it != h.end() && !it->is_null()) {
    if (!it->is_array()) throw InputError(fmt::format("{}: field 'blocks' is not an array", hw));
    for (const auto& b : *it) {
      std::array<std::int64_t, 2> tokens{}, pages{};
      std::array<std::size_t, 2> text{};
      read(b, "tokens", tokens, hw + ".blocks");
      read(b, "pages", pages, hw + ".blocks");
      read(b, "text", text, hw + ".blocks");
      a.hit_map.blocks.push_back({tokens[0], tokens[1], {int(pages[0]), int(pages[1])}, text[0], text[1]});
    }
  }
  const auto cells = std::size_t(std::max<std::int64_t>(a.hit_map.layers, 0)) * a.hit_map.blocks.size();
  if (a.hit_map.answer_hits.size() != cells || a.hit_map.read_hits.size() != cells) {
    if (cells != 0 || !a.hit_map.answer_hits.empty() || !a.hit_map.read_hits.empty())
      throw InputError(fmt::format("{}: the hit counts do not match {} layers x {} blocks", hw, a.hit_map.layers,
                                   a.hit_map.blocks.size()));
  }
  read(o, "notes", a.notes, where);
  read(o, "finished_at", a.finished_at, where);
  return a;
}

json parse(std::string_view text) {
  try {
    return json::parse(text);
  } catch (const json::parse_error& e) {
    throw InputError(fmt::format("not valid JSON: {}", e.what()));
  }
}

}  // namespace

std::string to_json(const Answer& answer, int indent) { return answer_json(answer).dump(indent); }

std::string to_json(const std::vector<Answer>& answers, int indent) {
  json all = json::array();
  for (const auto& a : answers) all.push_back(answer_json(a));
  return all.dump(indent);
}

Answer answer_from_json(std::string_view text) { return answer_of(parse(text), "answer"); }

std::vector<Answer> answers_from_json(std::string_view text) {
  const auto all = parse(text);
  if (!all.is_array()) throw InputError("answers: expected a JSON array of answers");
  std::vector<Answer> answers;
  for (std::size_t i = 0; i < all.size(); ++i) answers.push_back(answer_of(all[i], fmt::format("answers[{}]", i)));
  return answers;
}

}  // namespace qread
