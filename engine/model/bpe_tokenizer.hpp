// Hugging Face byte-level BPE (`tokenizer.json`, GPT-2 style) as used by Llama-3, Qwen2 and
// SmolLM2. Encoding follows `tokenizers`: added tokens are split out of the text first
// (leftmost-longest), the rest is normalized (none or NFC), cut into pre-tokens (regex
// `Split`, `Digits`, `ByteLevel`), each pre-token's bytes are mapped to GPT-2's printable
// characters and merged pair by pair in merge-rank order (leftmost first among equal ranks).
#pragma once

#include "qread/tokenizer.hpp"

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace qread::model {

// Pre-tokenizer patterns of the models we support, as their tokenizer.json writes them.
// GPT-2 (ByteLevel with use_regex, e.g. SmolLM2 after its Digits step):
inline constexpr std::string_view kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
// Llama-3 (Split, Isolated): contractions any case, numbers in groups of 1-3 digits.
inline constexpr std::string_view kLlama3Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// Qwen2 (Split, Isolated): as Llama-3 but single digits.
inline constexpr std::string_view kQwen2Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// A compiled PCRE2 pattern (UTF, Unicode properties, JIT when available), immutable and
// shareable between threads.
class RegexSplitter {
 public:
  // Throws InputError with PCRE2's message and the offset of the error.
  explicit RegexSplitter(std::string_view pattern);
  // Cuts valid UTF-8 `text` into the matches and the stretches between them, in order.
  // `is_match` tells which is which. Empty matches are skipped.
  struct Piece {
    std::string_view text;
    bool is_match;
  };
  std::vector<Piece> split(std::string_view text) const;

 private:
  struct Compiled;
  std::shared_ptr<const Compiled> compiled_;
};

// GPT-2's reversible map from bytes to printable characters (space -> "Ġ", newline -> "Ċ"),
// each as UTF-8.
const std::array<std::string, 256>& byte_level_alphabet();
// `bytes` mapped character by character.
std::string byte_level_encode(std::string_view bytes);
// The inverse; characters outside the alphabet are kept as their UTF-8.
std::string byte_level_decode(std::string_view mapped);

class BpeTokenizer final : public Tokenizer {
 public:
  // Reads `tokenizer.json`. Throws InputError naming the file when it is malformed or uses a
  // component this class does not implement. A SentencePiece-style file (Metaspace, byte
  // fallback: converted from a Llama-2 or Mistral tokenizer.model) is not byte-level BPE: with
  // `sentencepiece_style` given, it is set and nullptr returned (load tokenizer.model instead);
  // without, that is an InputError too.
  static std::unique_ptr<BpeTokenizer> from_file(const std::filesystem::path& tokenizer_json,
                                                 const TokenizerConfig& config = {},
                                                 bool* sentencepiece_style = nullptr);
  // The same from the file's text; `source` names it in messages.
  static std::unique_ptr<BpeTokenizer> from_json_text(std::string_view json, const std::string& source,
                                                      const TokenizerConfig& config = {},
                                                      bool* sentencepiece_style = nullptr);

  ~BpeTokenizer() override;

  std::vector<TokenId> encode(std::string_view text, bool add_bos) const override;
  std::string decode(std::span<const TokenId> ids, bool skip_special = false) const override;
  std::string token_bytes(TokenId id) const override;
  std::size_t vocab_size() const override;
  std::optional<TokenId> bos_id() const override;
  std::optional<TokenId> eos_id() const override;
  std::vector<TokenId> eos_ids() const override;
  std::optional<TokenId> token_to_id(std::string_view token) const override;
  bool is_special(TokenId id) const override;
  std::string_view kind() const override { return "bpe"; }

  // The pre-tokens of `text` (no added tokens in it) after normalization, as raw bytes (before
  // the byte-level mapping). For tests and diagnostics.
  std::vector<std::string> pre_tokenize(std::string_view text) const;

 private:
  struct Data;
  explicit BpeTokenizer(std::unique_ptr<Data> data);
  std::unique_ptr<Data> d_;
};

}  // namespace qread::model
