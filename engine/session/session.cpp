#include "qread/session.hpp"

#include "qread/chat_template.hpp"
#include "qread/error.hpp"
#include "qread/memory_budget.hpp"
#include "qread/prompt.hpp"
#include "qread/runtime.hpp"
#include "qread/tokenizer.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <map>

namespace qread {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buffer;
}

}  // namespace

double Answer::prefill_tokens_per_second() const {
  return prefill_seconds > 0 ? double(prompt_tokens) / prefill_seconds : 0.0;
}

double Answer::decode_ms_per_token() const {
  return answer_tokens > 0 ? 1000.0 * decode_seconds / double(answer_tokens) : 0.0;
}

double Answer::cache_hit_rate() const {
  const auto lookups = cache_hits + cache_misses;
  return lookups > 0 ? double(cache_hits) / double(lookups) : 0.0;
}

HitMap make_hit_map(const MemoryReport& report, std::int64_t layers, const DocumentPrompt& prompt,
                    const Document& document, std::int64_t answer_from) {
  HitMap map;
  map.layers = layers;
  if (report.block_size <= 0 || report.block_starts.empty()) return map;
  const auto n_tokens = std::int64_t(prompt.text_offsets.size());
  std::map<std::int64_t, std::size_t> index;  // block start -> column
  for (auto start : report.block_starts) {
    MemoryBlock block;
    block.token_begin = start;
    block.token_end = start + report.block_size;
    // The document text of the block: from its first to its last token that came from it.
    std::int64_t first = -1, last = -1;
    for (auto t = std::max<std::int64_t>(start, 0); t < std::min(block.token_end, n_tokens); ++t) {
      if (prompt.text_offsets[std::size_t(t)] < 0) continue;
      if (first < 0) first = prompt.text_offsets[std::size_t(t)];
      last = prompt.text_offsets[std::size_t(t)];
    }
    if (first >= 0) {
      block.text_begin = std::size_t(first);
      // The last token's text ends where the next token of the document starts; one byte past
      // its start is enough to name its page.
      block.text_end = std::min(document.text().size(), std::size_t(last) + 1);
      block.pages = document.pages_of_range(block.text_begin, block.text_end);
    }
    index.emplace(start, map.blocks.size());
    map.blocks.push_back(block);
  }
  const std::size_t cells = std::size_t(layers) * map.blocks.size();
  map.answer_hits.assign(cells, 0);
  map.read_hits.assign(cells, 0);
  for (const auto& r : report.retrievals) {
    if (r.layer < 0 || r.layer >= layers) continue;
    auto& hits = r.query_start >= answer_from ? map.answer_hits : map.read_hits;
    for (auto start : r.block_starts) {
      auto it = index.find(start);
      if (it != index.end()) ++hits[std::size_t(r.layer) * map.blocks.size() + it->second];
    }
  }
  return map;
}

std::vector<CitedPage> cited_pages(const HitMap& map) {
  std::map<int, std::int64_t> hits;
  for (std::size_t b = 0; b < map.blocks.size(); ++b) {
    if (map.blocks[b].pages.first == 0) continue;
    std::int64_t n = 0;
    for (std::int64_t layer = 0; layer < map.layers; ++layer) n += map.answer(layer, b);
    if (n > 0) hits[map.blocks[b].pages.first] += n;
  }
  std::vector<CitedPage> pages;
  for (const auto& [page, n] : hits) pages.push_back({page, n});
  std::stable_sort(pages.begin(), pages.end(), [](const CitedPage& a, const CitedPage& b) {
    return a.retrievals > b.retrievals;
  });
  return pages;
}

Reader::Reader(const std::filesystem::path& model, const ModelOptions& options)
    : model_path_(model),
      tokenizer_(model::load_tokenizer(model)),
      default_conv_type_(model::detect_chat_template(model)),
      model_(LanguageModel::load(model, options)) {}

Reader::~Reader() = default;

const ModelSummary& Reader::summary() const { return model_->summary(); }

model::ChatTemplate Reader::chat_template(const std::string& conv_type) const {
  return model::ChatTemplate::by_name(conv_type.empty() ? default_conv_type_ : conv_type);
}

Answer Reader::answer_for(const Document& document, const std::string& question, const AskOptions& options) const {
  Answer answer;
  answer.question = question;
  answer.mode = mode_name(options.config.attention.mode);
  answer.config_yaml = to_yaml(options.config);
  answer.model = model_path_.string();
  answer.document = document.source().string();
  answer.document_pages = int(document.pages().size());
  answer.device = summary().device;
  answer.dtype = summary().dtype;
  answer.notes = options.config.notes;
  return answer;
}

Answer Reader::ask(const Document& document, const std::string& question, const AskOptions& options,
                   const AskEvents& events) {
  const RunConfig& config = options.config;
  validate(config, config.source.empty() ? "the run config" : config.source.string());
  if (options.max_new_tokens < 0)
    throw InputError(fmt::format("max_new_tokens must be >= 0, got {}", options.max_new_tokens));
  Answer answer = answer_for(document, question, options);

  auto start = Clock::now();
  const auto chat = chat_template(config.conv_type);
  PromptOptions prompt_options;
  prompt_options.max_len = config.max_len;
  prompt_options.truncation = config.truncation;
  prompt_options.max_new_tokens = options.max_new_tokens;
  const auto prompt = build_document_prompt(document, question, *tokenizer_, chat, prompt_options);
  answer.tokenize_seconds = seconds_since(start);
  answer.prompt_tokens = std::int64_t(prompt.ids.size());
  answer.dropped_tokens = prompt.dropped_tokens;
  answer.question_span = prompt.question;
  if (prompt.dropped_tokens > 0)
    answer.notes.push_back(fmt::format("the prompt was cut to max_len: {} tokens of the document were left out",
                                       prompt.dropped_tokens));
  if (config.attention.mode == MemoryMode::qllm && !prompt.question) {
    static const std::string no_question =
        "the question's tokens were not found in the prompt; Q-LLM ran without a question vector";
    answer.notes.push_back(no_question);
  }

  // Before reading: a document that cannot fit in this machine's memory in this mode is an
  // error that says what fits. The previous document's context is given back first, so the
  // memory it holds counts as free.
  auto room = memory_room(summary().device);
  const auto previous = model_->context_bytes();
  room.host_used = std::max<std::int64_t>(room.host_used - previous.host, 0);
  room.device_used = std::max<std::int64_t>(room.device_used - previous.device, 0);
  for (auto& note : check_memory_room(summary(), config.attention, answer.prompt_tokens + options.max_new_tokens,
                                      room, document.source().filename().string()))
    answer.notes.push_back(std::move(note));
  model_->configure_memory(config.attention, prompt.question);
  GenerationOptions g;
  g.chunk_size = config.chunk_size;
  g.max_new_tokens = options.max_new_tokens;
  g.sampling = options.sampling;
  for (const auto& stop : chat.stop_tokens())
    if (auto id = tokenizer_->token_to_id(stop)) g.stop_ids.push_back(*id);

  reset_peak_memory();
  model::StreamDecoder stream(*tokenizer_);
  const auto read_start = Clock::now();
  auto on_token = [&](TokenId id) {
    const auto piece = stream.push(id);
    answer.text += piece;
    ++answer.answer_tokens;
    if (events.text && !piece.empty()) events.text(piece);
    return true;
  };
  auto progress = [&](std::int64_t done, std::int64_t total) {
    answer.prefill_progress.push_back({done, seconds_since(read_start)});
    if (events.reading) events.reading(done, total);
  };
  try {
    const auto result = model_->generate(prompt.ids, g, on_token, progress, events.cancel);
    answer.stop_reason = result.stop_reason;
    answer.prefill_seconds = result.prefill_seconds;
    answer.decode_seconds = result.decode_seconds;
  } catch (const Cancelled&) {
    answer.stop_reason = "cancelled";
    answer.prefill_seconds = seconds_since(read_start);
  }
  const auto tail = stream.finish();
  answer.text += tail;
  if (events.text && !tail.empty()) events.text(tail);

  const auto report = model_->memory_report();
  answer.cache_hits = report.cache_hits;
  answer.cache_misses = report.cache_misses;
  answer.bytes_to_device = report.bytes_to_device;
  answer.hit_map = make_hit_map(report, summary().layers, prompt, document, answer.prompt_tokens - 1);
  answer.cited_pages = cited_pages(answer.hit_map);
  const auto memory = memory_usage();
  answer.host_peak_bytes = memory.host_peak_bytes;
  answer.gpu_peak_bytes = memory.gpu_peak_bytes;
  answer.finished_at = utc_now();
  return answer;
}

}  // namespace qread
