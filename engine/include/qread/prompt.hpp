// The prompt for a question about a document, as the reference builds it: the task template
// puts the question before and after the document (`custom_book`), the chat template wraps it,
// `max_len` with `truncation: suffix` keeps the first tokens and the end. Also records where the
// question's tokens are (Q-LLM's question span) and, for each token, where it comes from in the
// document, so that retrieved memory blocks can be shown as pages.
#pragma once

#include "qread/chat_template.hpp"
#include "qread/document.hpp"
#include "qread/language_model.hpp"
#include "qread/tokenizer.hpp"

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace qread {

// The reference's `custom_book` task template ({input}: the question, {context}: the document).
inline constexpr std::string_view kBookTemplate =
    "Below is some sections in the book. Read the book and answer my question: {input}. In The "
    "book begins. \n {context} \n Now the book ends. Please answer the question: {input}.";

struct PromptOptions {
  std::string task_template{kBookTemplate};
  std::int64_t max_len = 2147483647;  // prompt + answer tokens
  std::string truncation = "suffix";  // "suffix" or "none" (then a long prompt is an error)
  std::int64_t max_new_tokens = 256;  // room kept for the answer
  std::int64_t keep_first = 128;      // tokens kept at the start by suffix truncation (the reference's)
};

struct DocumentPrompt {
  std::vector<TokenId> ids;
  std::optional<TokenSpan> question;        // first occurrence of the question's tokens
  std::vector<std::int64_t> text_offsets;   // per token: byte offset in Document::text(), or -1
  std::int64_t dropped_tokens = 0;          // removed by truncation
};

// Throws InputError when the question is empty or (truncation none) the prompt is too long.
DocumentPrompt build_document_prompt(const Document& document, std::string_view question,
                                     const model::Tokenizer& tokenizer, const model::ChatTemplate& chat,
                                     const PromptOptions& options = {});

// Where `question` (ids of the question alone) first occurs in `prompt`, the reference's way:
// longer than 2 tokens, its first and last token are ignored while matching (they may merge with
// neighbours) and the span is widened by one on each side.
std::optional<TokenSpan> find_question_span(std::span<const TokenId> prompt, std::span<const TokenId> question);

}  // namespace qread
