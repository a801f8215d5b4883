// SentencePiece tokenizer over the shim; see sentencepiece_tokenizer.hpp.
#include "model/sentencepiece_tokenizer.hpp"

#include "model/spm_shim/qread_spm.h"
#include "qread/error.hpp"

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>

namespace qread::model {

namespace {

constexpr std::string_view kMetaSpace = "\xE2\x96\x81";  // "▁", sentencepiece's space

// "<0x0A>" -> '\n'.
std::optional<char> byte_piece_value(std::string_view piece) {
  if (piece.size() != 6 || piece.substr(0, 3) != "<0x" || piece.back() != '>') return std::nullopt;
  unsigned value = 0;
  for (char c : piece.substr(3, 2)) {
    value <<= 4;
    if (c >= '0' && c <= '9') value |= unsigned(c - '0');
    else if (c >= 'A' && c <= 'F') value |= unsigned(c - 'A' + 10);
    else if (c >= 'a' && c <= 'f') value |= unsigned(c - 'a' + 10);
    else return std::nullopt;
  }
  return static_cast<char>(value);
}

std::string replace_meta_space(std::string_view piece) {
  std::string out;
  out.reserve(piece.size());
  for (std::size_t i = 0; i < piece.size();) {
    if (piece.substr(i, kMetaSpace.size()) == kMetaSpace) {
      out += ' ';
      i += kMetaSpace.size();
    } else {
      out += piece[i++];
    }
  }
  return out;
}

}  // namespace

DummyPrefixRule dummy_prefix_rule_of(const std::filesystem::path& tokenizer_json) {
  using json = nlohmann::json;
  json j;
  {
    std::ifstream in(tokenizer_json, std::ios::binary);
    if (!in) throw InputError(fmt::format("{}: cannot open", tokenizer_json.string()));
    try {
      j = json::parse(in);
    } catch (const json::exception& e) {
      throw InputError(fmt::format("{}: not valid JSON: {}", tokenizer_json.string(), e.what()));
    }
  }
  // Components of a (possibly Sequence) normalizer or pre_tokenizer, flattened.
  std::vector<json> parts;
  auto flatten = [&](auto&& self, const json& node, const char* list_key) -> void {
    if (!node.is_object()) return;
    if (node.value("type", std::string()) == "Sequence" && node.contains(list_key)) {
      for (const auto& item : node.at(list_key)) self(self, item, list_key);
    } else {
      parts.push_back(node);
    }
  };
  if (j.is_object()) {
    flatten(flatten, j.value("normalizer", json()), "normalizers");
    flatten(flatten, j.value("pre_tokenizer", json()), "pretokenizers");
  }
  for (const auto& p : parts) {
    const auto type = p.value("type", std::string());
    if (type == "Prepend" && p.value("prepend", std::string()) == kMetaSpace) return {DummyPrefixRule::Where::EveryStretch, false};
    if (type == "Metaspace") {
      std::string scheme = "always";
      if (p.contains("prepend_scheme") && p.at("prepend_scheme").is_string())
        scheme = p.at("prepend_scheme").get<std::string>();
      else if (p.contains("add_prefix_space") && p.at("add_prefix_space").is_boolean())
        scheme = p.at("add_prefix_space").get<bool>() ? "always" : "never";
      if (scheme == "first") return {DummyPrefixRule::Where::FirstStretch, true};
      if (scheme == "never") return {DummyPrefixRule::Where::Nowhere, true};
      return {DummyPrefixRule::Where::EveryStretch, true};
    }
  }
  return {DummyPrefixRule::Where::Nowhere, false};  // nothing prepends "▁"
}

SentencePieceTokenizer::SentencePieceTokenizer(const std::filesystem::path& model_file, const TokenizerConfig& config,
                                               std::optional<DummyPrefixRule> rule)
    : source_(model_file.string()), model_(model_file) {
  const std::int32_t n = model_.vocab_size();
  if (n <= 0) throw InputError(fmt::format("{}: empty SentencePiece vocabulary", source_));
  pieces_.reserve(std::size_t(n));
  bytes_.reserve(std::size_t(n));
  flags_.reserve(std::size_t(n));
  for (std::int32_t id = 0; id < n; ++id) {
    const std::string piece(model_.piece(id));
    const auto flags = static_cast<std::uint8_t>(model_.piece_flags(id));
    std::string bytes;
    if (flags & QREAD_SPM_PIECE_BYTE) {
      const auto value = byte_piece_value(piece);
      if (!value) throw InputError(fmt::format("{}: byte piece {} is '{}', not <0xNN>", source_, id, piece));
      bytes = std::string(1, *value);
    } else if (flags & (QREAD_SPM_PIECE_CONTROL | QREAD_SPM_PIECE_UNKNOWN)) {
      bytes = piece;  // rendered as written, as HF does for its special tokens
    } else {
      bytes = replace_meta_space(piece);
    }
    by_piece_.emplace(piece, id);
    if ((flags & (QREAD_SPM_PIECE_CONTROL | QREAD_SPM_PIECE_UNKNOWN)) && !piece.empty())
      specials_by_first_byte_[static_cast<unsigned char>(piece[0])].push_back(id);
    pieces_.push_back(piece);
    bytes_.push_back(std::move(bytes));
    flags_.push_back(flags);
  }
  for (auto& bucket : specials_by_first_byte_)
    std::stable_sort(bucket.begin(), bucket.end(),
                     [&](TokenId a, TokenId b) { return pieces_[a].size() > pieces_[b].size(); });

  auto from_config = [&](const std::optional<std::string>& token, const char* field) -> std::optional<TokenId> {
    if (!token) return std::nullopt;
    if (auto id = token_to_id(*token)) return id;
    throw InputError(fmt::format("{}: tokenizer_config.json's {} '{}' is not a piece of the model", source_, field, *token));
  };
  bos_ = from_config(config.bos_token, "bos_token");
  if (!bos_ && model_.bos_id() >= 0) bos_ = model_.bos_id();
  eos_ = from_config(config.eos_token, "eos_token");
  if (!eos_ && model_.eos_id() >= 0) eos_ = model_.eos_id();
  if (eos_) eos_all_.push_back(*eos_);
  for (TokenId id : config.eos_token_ids)
    if (id >= 0 && id < n && std::find(eos_all_.begin(), eos_all_.end(), id) == eos_all_.end()) eos_all_.push_back(id);
  add_bos_ = config.add_bos_token.value_or(true);  // LlamaTokenizer's default
  if (rule)
    rule_ = *rule;
  else if (config.legacy == false)
    // What transformers' LlamaTokenizerFast builds for legacy=False (Metaspace, prepend_scheme
    // "first"): "▁" only at the start of the text, and not before a space.
    rule_ = {DummyPrefixRule::Where::FirstStretch, true};

  // Does the model put "▁" before the first word (normalizer add_dummy_prefix)? The shim does
  // not expose the normalizer spec, so ask the model itself.
  const auto probe = model_.encode("x");
  model_dummy_prefix_ = !probe.empty() && pieces_[std::size_t(probe.front())].starts_with(kMetaSpace);
  strips_space_ = model_dummy_prefix_ && rule_.where != DummyPrefixRule::Where::Nowhere;
  if (model_.unk_id() >= 0) unk_prefix_ids_ = model_.encode(pieces_[std::size_t(model_.unk_id())]).size();
}

void SentencePieceTokenizer::encode_stretch(std::string_view stretch, bool dummy_prefix,
                                            std::vector<TokenId>& out) const {
  if (stretch.empty()) return;
  if (dummy_prefix && !model_dummy_prefix_) {  // wanted, but the model adds none: a space is one
    const auto ids = model_.encode(" " + std::string(stretch));
    out.insert(out.end(), ids.begin(), ids.end());
    return;
  }
  if (dummy_prefix || !model_dummy_prefix_ || unk_prefix_ids_ == 0) {
    const auto ids = model_.encode(stretch);
    out.insert(out.end(), ids.begin(), ids.end());
    return;
  }
  // No "▁" wanted before this stretch but the model always adds one: encode "<unk>" + stretch
  // and drop the ids of "<unk>", as transformers' LlamaTokenizer does with legacy=False.
  std::string text = pieces_[std::size_t(model_.unk_id())];
  text.append(stretch);
  const auto ids = model_.encode(text);
  if (ids.size() >= unk_prefix_ids_)
    out.insert(out.end(), ids.begin() + std::ptrdiff_t(unk_prefix_ids_), ids.end());
  else
    out.insert(out.end(), ids.begin(), ids.end());
}

bool SentencePieceTokenizer::wants_prefix(std::string_view stretch, bool at_text_start) const {
  bool want = rule_.where == DummyPrefixRule::Where::EveryStretch ||
              (rule_.where == DummyPrefixRule::Where::FirstStretch && at_text_start);
  if (want && rule_.unless_space && (stretch.starts_with(' ') || stretch.starts_with(kMetaSpace))) want = false;
  return want;
}

std::vector<TokenId> SentencePieceTokenizer::encode(std::string_view raw_text, bool add_bos) const {
  const std::string text = utf8_lossy(raw_text);
  std::vector<TokenId> out;
  out.reserve(text.size() / 3 + 4);
  if (add_bos && add_bos_ && bos_) out.push_back(*bos_);
  std::size_t start = 0, i = 0;
  while (i < text.size()) {
    TokenId hit = -1;
    for (TokenId id : specials_by_first_byte_[static_cast<unsigned char>(text[i])]) {
      if (text.compare(i, pieces_[id].size(), pieces_[id]) == 0) {
        hit = id;
        break;
      }
    }
    if (hit < 0) {
      ++i;
      continue;
    }
    const auto stretch = std::string_view(text).substr(start, i - start);
    encode_stretch(stretch, wants_prefix(stretch, start == 0), out);
    out.push_back(hit);
    start = i = i + pieces_[hit].size();
  }
  const auto stretch = std::string_view(text).substr(start);
  encode_stretch(stretch, wants_prefix(stretch, start == 0), out);
  return out;
}

std::string SentencePieceTokenizer::decode(std::span<const TokenId> ids, bool skip_special) const {
  std::string bytes;
  bool first = true;
  for (TokenId id : ids) {
    if (id < 0 || std::size_t(id) >= bytes_.size()) continue;
    const bool special = is_special(id);
    if (skip_special && special) continue;
    const std::string& b = bytes_[id];
    if (first && !b.empty()) {
      first = false;
      // The dummy prefix: "▁Hello" at the start is "Hello".
      if (strips_space_ && !special && b.front() == ' ') {
        bytes.append(b, 1);
        continue;
      }
    }
    bytes += b;
  }
  return utf8_lossy(bytes);
}

std::string SentencePieceTokenizer::decode_with_sentencepiece(std::span<const TokenId> ids) const {
  return model_.decode(std::vector<std::int32_t>(ids.begin(), ids.end()));
}

std::string SentencePieceTokenizer::token_bytes(TokenId id) const {
  return id >= 0 && std::size_t(id) < bytes_.size() ? bytes_[id] : std::string();
}

std::optional<TokenId> SentencePieceTokenizer::token_to_id(std::string_view token) const {
  if (auto it = by_piece_.find(std::string(token)); it != by_piece_.end()) return it->second;
  return std::nullopt;
}

bool SentencePieceTokenizer::is_special(TokenId id) const {
  return id >= 0 && std::size_t(id) < flags_.size() &&
         (flags_[id] & (QREAD_SPM_PIECE_CONTROL | QREAD_SPM_PIECE_UNKNOWN));
}

}  // namespace qread::model
