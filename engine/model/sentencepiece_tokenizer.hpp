// SentencePiece (`tokenizer.model`: Llama-2, Mistral, Vicuna, MiniCPM) through the C-ABI shim
// (spm_library.hpp), so that no binary that links LibTorch links sentencepiece.
//
// As Hugging Face's Llama tokenizers do: control and unknown pieces written literally in the
// text ("<s>", "</s>", "<unk>") are split out first and become their ids; each stretch of text
// between them is encoded by sentencepiece on its own. Which stretches get the "▁" dummy
// prefix follows HF's fast tokenizers (DummyPrefixRule): what the folder's tokenizer.json says
// when it has one; else, as transformers converts a tokenizer.model, every stretch (the
// default, "legacy") or, with tokenizer_config.json "legacy": false, only the text's start.
#pragma once

#include "model/spm_library.hpp"
#include "qread/tokenizer.hpp"

#include <array>
#include <optional>
#include <unordered_map>

namespace qread::model {

// Where the "▁" goes before a stretch of text (between special tokens).
struct DummyPrefixRule {
  enum class Where { EveryStretch, FirstStretch, Nowhere } where = Where::EveryStretch;
  // HF's Metaspace: no "▁" is added before text that already starts with a space.
  bool unless_space = false;
};

// The rule a SentencePiece-style tokenizer.json describes: a Prepend("▁") normalizer (Llama-2,
// Mistral v0.1/v0.2 conversions) puts it before every stretch; a Metaspace pre-tokenizer
// follows its prepend_scheme (always / first / never). Throws InputError naming the file.
DummyPrefixRule dummy_prefix_rule_of(const std::filesystem::path& tokenizer_json);

class SentencePieceTokenizer final : public Tokenizer {
 public:
  // Throws InputError naming the file when it is missing or not a SentencePiece model, and
  // qread::Error when the shim library cannot be loaded. Without `rule`, it comes from
  // config.legacy (false: the first stretch unless it starts with a space; else every stretch).
  explicit SentencePieceTokenizer(const std::filesystem::path& model_file, const TokenizerConfig& config = {},
                                  std::optional<DummyPrefixRule> rule = std::nullopt);

  std::vector<TokenId> encode(std::string_view text, bool add_bos) const override;
  std::string decode(std::span<const TokenId> ids, bool skip_special = false) const override;
  std::string token_bytes(TokenId id) const override;
  std::size_t vocab_size() const override { return pieces_.size(); }
  std::optional<TokenId> bos_id() const override { return bos_; }
  std::optional<TokenId> eos_id() const override { return eos_; }
  std::vector<TokenId> eos_ids() const override { return eos_all_; }
  std::optional<TokenId> token_to_id(std::string_view token) const override;
  bool is_special(TokenId id) const override;
  bool strips_leading_space() const override { return strips_space_; }
  std::string_view kind() const override { return "sentencepiece"; }

  // sentencepiece's own decoding (control pieces dropped), for comparisons in tests.
  std::string decode_with_sentencepiece(std::span<const TokenId> ids) const;
  // The piece text of an id ("▁the", "<0x0A>").
  const std::string& piece(TokenId id) const { return pieces_.at(std::size_t(id)); }

 private:
  bool wants_prefix(std::string_view stretch, bool at_text_start) const;
  void encode_stretch(std::string_view stretch, bool dummy_prefix, std::vector<TokenId>& out) const;

  std::string source_;
  SpmModel model_;
  std::vector<std::string> pieces_;
  std::vector<std::string> bytes_;   // token_bytes per id
  std::vector<std::uint8_t> flags_;  // QREAD_SPM_PIECE_* bits
  std::unordered_map<std::string, TokenId> by_piece_;
  // Control and unknown pieces, split out of the text before encoding; by first byte, longest first.
  std::array<std::vector<TokenId>, 256> specials_by_first_byte_;
  std::optional<TokenId> bos_, eos_;
  std::vector<TokenId> eos_all_;
  bool add_bos_ = true;
  DummyPrefixRule rule_;
  bool model_dummy_prefix_ = true;  // the model itself puts "▁" first (normalizer add_dummy_prefix)
  bool strips_space_ = true;        // decoding drops the first token's leading space
  std::size_t unk_prefix_ids_ = 0;  // ids that "<unk>" alone encodes to (the no-prefix trick)
};

}  // namespace qread::model
