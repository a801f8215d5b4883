// SentencePiece (`tokenizer.model`: Llama-2, Mistral, Vicuna, MiniCPM) through the C-ABI shim
// (spm_library.hpp), so that no binary that links LibTorch links sentencepiece.
//
// As Hugging Face's Llama tokenizers do: control and unknown pieces written literally in the
// text ("<s>", "</s>", "<unk>") are split out first and become their ids; each stretch of text
// between them is encoded by sentencepiece on its own (so it gets the "▁" dummy prefix; with
// tokenizer_config.json "legacy": false only the text's first stretch gets it).
#pragma once

#include "model/spm_library.hpp"
#include "model/tokenizer.hpp"

#include <array>
#include <unordered_map>

namespace qread::model {

class SentencePieceTokenizer final : public Tokenizer {
 public:
  // Throws InputError naming the file when it is missing or not a SentencePiece model, and
  // qread::Error when the shim library cannot be loaded.
  explicit SentencePieceTokenizer(const std::filesystem::path& model_file, const TokenizerConfig& config = {});

  std::vector<TokenId> encode(std::string_view text, bool add_bos) const override;
  std::string decode(std::span<const TokenId> ids, bool skip_special = false) const override;
  std::string token_bytes(TokenId id) const override;
  std::size_t vocab_size() const override { return pieces_.size(); }
  std::optional<TokenId> bos_id() const override { return bos_; }
  std::optional<TokenId> eos_id() const override { return eos_; }
  std::vector<TokenId> eos_ids() const override { return eos_all_; }
  std::optional<TokenId> token_to_id(std::string_view token) const override;
  bool is_special(TokenId id) const override;
  bool strips_leading_space() const override { return dummy_prefix_; }
  std::string_view kind() const override { return "sentencepiece"; }

  // sentencepiece's own decoding (control pieces dropped), for comparisons in tests.
  std::string decode_with_sentencepiece(std::span<const TokenId> ids) const;
  // The piece text of an id ("▁the", "<0x0A>").
  const std::string& piece(TokenId id) const { return pieces_.at(std::size_t(id)); }

 private:
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
  bool legacy_ = true;
  bool dummy_prefix_ = true;
  std::size_t unk_prefix_ids_ = 0;  // ids that "<unk>" alone encodes to (legacy=false trick)
};

}  // namespace qread::model
