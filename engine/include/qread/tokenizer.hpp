// Tokenizers: SentencePiece (`tokenizer.model`; Llama-2, Mistral) and Hugging Face byte-level
// BPE (`tokenizer.json`; Llama-3, Qwen2, SmolLM2). No LibTorch here.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace qread::model {

using TokenId = std::int32_t;

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Text to ids. Special/added tokens written literally in `text` (e.g. "<|im_start|>",
  // "<s>") become their ids, as HF `tokenizers` does for added tokens. `add_bos` prepends the
  // BOS id when the tokenizer has one.
  virtual std::vector<TokenId> encode(std::string_view text, bool add_bos) const = 0;
  // Ids to text; special tokens are rendered as their text unless `skip_special`.
  virtual std::string decode(std::span<const TokenId> ids, bool skip_special = false) const = 0;
  // The raw bytes one id stands for (byte-fallback and byte-level pieces resolved), used by
  // the incremental decoder. For SentencePiece the leading "▁" becomes a space.
  virtual std::string token_bytes(TokenId id) const = 0;

  virtual std::size_t vocab_size() const = 0;
  virtual std::optional<TokenId> bos_id() const = 0;
  virtual std::optional<TokenId> eos_id() const = 0;
  // Id of an exact token string ("<|eot_id|>"), if the vocabulary has it.
  virtual std::optional<TokenId> token_to_id(std::string_view token) const = 0;
  virtual bool is_special(TokenId id) const = 0;

  // Every id that ends generation: eos_id() plus the eos ids of generation_config.json /
  // config.json (Llama-3-Instruct: <|end_of_text|> and <|eot_id|>). Defaults to eos_id().
  virtual std::vector<TokenId> eos_ids() const;
  // True when decoding drops the space of the first word (SentencePiece's dummy prefix:
  // "▁Hello" at the start decodes to "Hello"). StreamDecoder follows the same rule.
  virtual bool strips_leading_space() const { return false; }
  // "sentencepiece" or "bpe", for messages and `qread tokenize --json`.
  virtual std::string_view kind() const { return "unknown"; }
};

// What tokenizer_config.json, generation_config.json and config.json say about the tokenizer.
// Absent fields stay empty; the tokenizers fall back to their own files.
struct TokenizerConfig {
  std::optional<std::string> bos_token, eos_token;  // tokenizer_config.json (string or AddedToken)
  std::optional<bool> add_bos_token;                // tokenizer_config.json
  std::optional<bool> legacy;                       // tokenizer_config.json (Llama SentencePiece)
  std::vector<TokenId> eos_token_ids;               // generation_config.json, else config.json
  std::optional<TokenId> bos_token_id;              // generation_config.json, else config.json
};

// Reads the three files when present. Throws InputError naming a file that exists but is not
// valid JSON.
TokenizerConfig read_tokenizer_config(const std::filesystem::path& model_dir);

// Loads `tokenizer.json` when present, else `tokenizer.model`. Throws InputError naming the
// folder/file when neither exists or the file is malformed. A tokenizer.json of SentencePiece
// style (Llama-2/Mistral: Metaspace, byte fallback) is read from tokenizer.model when the
// folder has one.
std::unique_ptr<Tokenizer> load_tokenizer(const std::filesystem::path& model_dir);

// UTF-8 helpers shared by the tokenizers and the stream decoder.
// Replaces every invalid UTF-8 sequence by U+FFFD (one per maximal invalid subpart, as Rust's
// from_utf8_lossy, which HF `tokenizers` uses when decoding); valid input comes back unchanged.
std::string utf8_lossy(std::string_view bytes);
// Length of the longest prefix of `bytes` after which no character is cut: a trailing
// incomplete (but so far valid) sequence is left out.
std::size_t utf8_complete_prefix(std::string_view bytes);

// Streaming detokenization: feed ids one at a time, get back the text that is complete so far.
// Never splits a UTF-8 sequence (bytes of a partial character wait for the next id); handles
// SentencePiece's leading-space rule (no space before the first word of the stream).
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer, bool skip_special = true);
  std::string push(TokenId id);
  // What is left at the end (an incomplete UTF-8 tail becomes U+FFFD).
  std::string finish();

 private:
  const Tokenizer& tokenizer_;
  bool skip_special_;
  bool first_ = true;
  std::string pending_;
};

}  // namespace qread::model
