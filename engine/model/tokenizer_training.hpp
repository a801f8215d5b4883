// Tokenizers trained at run time on a few KB of text, for the tiny test models
// (`qread mkmodel`): no downloaded tokenizer is needed by any test.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string_view>

namespace qread::model {

enum class SpmModelType { Bpe, Unigram };

// Trains a SentencePiece model on `corpus_text` (one sentence per line) through the shim and
// writes it to `out_model` (a tokenizer.model). Llama-like settings: <unk>=0, <s>=1, </s>=2, no
// normalization, byte fallback, split digits, "▁" dummy prefix. The character coverage is
// lowered when the corpus has more distinct characters than the vocabulary can hold (the rest
// falls back to bytes). Returns the vocabulary size written (at most `vocab_size`, which must
// be at least 300: 256 byte pieces + 3 specials + some). Throws InputError for bad arguments,
// qread::Error when training fails.
std::size_t train_sentencepiece(std::string_view corpus_text, std::int64_t vocab_size,
                                const std::filesystem::path& out_model, SpmModelType type = SpmModelType::Bpe);

// Learns byte-level BPE merges on `corpus_text` (greedy: repeatedly merge the most frequent
// adjacent pair within Llama-3 pre-tokens; ties go to the pair of older tokens) and writes a
// Llama-3-style tokenizer.json to `out_json` that HF `tokenizers` loads, with the special
// tokens <|begin_of_text|>, <|end_of_text|>, <|eot_id|>, <|start_header_id|>,
// <|end_header_id|> after the merged vocabulary, plus a tokenizer_config.json beside it (BOS
// <|begin_of_text|>, EOS <|eot_id|>, the Llama-3 chat template). Returns the vocabulary size
// (`vocab_size` unless the corpus runs out of pairs; at least 256 + 5).
std::size_t train_byte_level_bpe(std::string_view corpus_text, std::int64_t vocab_size,
                                 const std::filesystem::path& out_json);

}  // namespace qread::model
