#include "qread/prompt.hpp"

#include "qread/error.hpp"

#include <fmt/core.h>

#include <algorithm>

namespace qread {
namespace {

std::string replace_all(std::string text, std::string_view key, std::string_view value) {
  for (std::size_t at = text.find(key); at != std::string::npos; at = text.find(key, at + value.size()))
    text.replace(at, key.size(), value);
  return text;
}

}  // namespace

std::optional<TokenSpan> find_question_span(std::span<const TokenId> prompt, std::span<const TokenId> question) {
  if (question.empty() || question.size() > prompt.size()) return std::nullopt;
  const bool trimmed = question.size() > 2;
  const auto core = trimmed ? question.subspan(1, question.size() - 2) : question;
  auto it = std::search(prompt.begin(), prompt.end(), core.begin(), core.end());
  if (it == prompt.end()) return std::nullopt;
  const auto begin = std::int64_t(it - prompt.begin()), end = begin + std::int64_t(core.size());
  if (!trimmed) return TokenSpan{begin, end};
  return TokenSpan{std::max<std::int64_t>(begin - 1, 0), std::min<std::int64_t>(end + 1, std::int64_t(prompt.size()))};
}

DocumentPrompt build_document_prompt(const Document& document, std::string_view question,
                                     const model::Tokenizer& tokenizer, const model::ChatTemplate& chat,
                                     const PromptOptions& options) {
  if (question.find_first_not_of(" \t\r\n") == std::string_view::npos) throw InputError("the question is empty");
  // The task text with a marker where the document goes, so that its place is known after the
  // chat template wraps it (control characters keep it from matching real text).
  static constexpr std::string_view kMarker{"\x01qread-context\x01", 15};
  const auto task = replace_all(replace_all(options.task_template, "{input}", question), "{context}", kMarker);
  const auto rendered = model::render_user_prompt(chat, task);
  const auto marker_at = rendered.text.find(kMarker);
  if (marker_at == std::string::npos) throw Error("prompt template lost the document's place");
  const std::string text = rendered.text.substr(0, marker_at) + document.text() +
                           rendered.text.substr(marker_at + kMarker.size());
  const std::size_t doc_begin = marker_at, doc_end = marker_at + document.text().size();

  DocumentPrompt prompt;
  prompt.ids = tokenizer.encode(text, chat.encode_with_bos());
  // Byte offsets of each token in `text`, from the bytes each token stands for.
  std::vector<std::int64_t> offsets;
  offsets.reserve(prompt.ids.size());
  // (SentencePiece's leading space can shift them by one byte: close enough to find a page.)
  const auto bos = tokenizer.bos_id();
  std::size_t at = 0;
  for (std::size_t i = 0; i < prompt.ids.size(); ++i) {
    offsets.push_back(std::int64_t(at));
    const bool added_bos = i == 0 && chat.encode_with_bos() && bos && prompt.ids[i] == *bos;  // not in the text
    if (!added_bos) at += tokenizer.token_bytes(prompt.ids[i]).size();
  }

  // Truncation keeps the first tokens and the end, as the reference does.
  const std::int64_t budget = options.max_len - options.max_new_tokens;
  if (std::int64_t(prompt.ids.size()) > budget) {
    if (options.truncation != "suffix")
      throw InputError(fmt::format("the prompt has {} tokens, more than max_len {} minus {} for the answer; "
                                   "set truncation: suffix or a larger max_len",
                                   prompt.ids.size(), options.max_len, options.max_new_tokens));
    const std::int64_t first = std::min(options.keep_first, budget);
    const std::int64_t last = budget - first;
    prompt.dropped_tokens = std::int64_t(prompt.ids.size()) - budget;
    auto cut = [&](auto& v) {
      v.erase(v.begin() + first, v.end() - last);
    };
    cut(prompt.ids);
    cut(offsets);
  }
  prompt.text_offsets.reserve(offsets.size());
  for (auto o : offsets)
    prompt.text_offsets.push_back(o >= std::int64_t(doc_begin) && o < std::int64_t(doc_end) ? o - std::int64_t(doc_begin) : -1);

  const auto question_ids = tokenizer.encode(question, false);
  prompt.question = find_question_span(prompt.ids, question_ids);
  return prompt;
}

}  // namespace qread
