// load_tokenizer, tokenizer_config.json & co., StreamDecoder and the UTF-8 helpers.
#include "qread/tokenizer.hpp"
#include "model/gguf_model.hpp"

#include "model/bpe_tokenizer.hpp"
#include "model/sentencepiece_tokenizer.hpp"
#include "qread/error.hpp"

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include <fstream>

namespace qread::model {

using json = nlohmann::json;

std::vector<TokenId> Tokenizer::eos_ids() const {
  if (auto eos = eos_id()) return {*eos};
  return {};
}

// ---------------------------------------------------------------------------------------------
// UTF-8

namespace {

enum class Step { Valid, Invalid, Incomplete };

// Looks at the sequence starting at `i`: a valid character, an invalid maximal subpart (to be
// replaced by one U+FFFD), or a valid beginning cut by the end of the input. `length` is how
// many bytes it covers.
Step utf8_step(std::string_view s, std::size_t i, std::size_t& length) {
  const auto b = static_cast<unsigned char>(s[i]);
  length = 1;
  if (b < 0x80) return Step::Valid;
  std::size_t need;
  unsigned char lo = 0x80, hi = 0xBF;  // bounds of the second byte (Unicode table 3-7)
  if (b >= 0xC2 && b <= 0xDF) need = 1;
  else if (b == 0xE0) need = 2, lo = 0xA0;
  else if ((b >= 0xE1 && b <= 0xEC) || b == 0xEE || b == 0xEF) need = 2;
  else if (b == 0xED) need = 2, hi = 0x9F;  // no surrogates
  else if (b == 0xF0) need = 3, lo = 0x90;
  else if (b >= 0xF1 && b <= 0xF3) need = 3;
  else if (b == 0xF4) need = 3, hi = 0x8F;  // nothing past U+10FFFF
  else return Step::Invalid;
  for (std::size_t k = 1; k <= need; ++k) {
    if (i + k >= s.size()) {
      length = k;
      return Step::Incomplete;
    }
    const auto c = static_cast<unsigned char>(s[i + k]);
    if (c < lo || c > hi) {
      length = k;
      return Step::Invalid;
    }
    lo = 0x80, hi = 0xBF;
  }
  length = need + 1;
  return Step::Valid;
}

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

}  // namespace

std::string utf8_lossy(std::string_view bytes) {
  // Fast path: valid input is copied as is.
  std::size_t i = 0, length = 0;
  while (i < bytes.size() && utf8_step(bytes, i, length) == Step::Valid) i += length;
  if (i == bytes.size()) return std::string(bytes);
  std::string out(bytes.substr(0, i));
  while (i < bytes.size()) {
    if (utf8_step(bytes, i, length) == Step::Valid)
      out.append(bytes.substr(i, length));
    else
      out += kReplacement;
    i += length;
  }
  return out;
}

std::size_t utf8_complete_prefix(std::string_view bytes) {
  std::size_t i = 0, length = 0;
  while (i < bytes.size()) {
    if (utf8_step(bytes, i, length) == Step::Incomplete) return i;
    i += length;
  }
  return bytes.size();
}

// ---------------------------------------------------------------------------------------------
// Config files

namespace {

std::optional<json> read_json(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return std::nullopt;
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(fmt::format("{}: cannot open", path.string()));
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    throw InputError(fmt::format("{}: not valid JSON: {}", path.string(), e.what()));
  }
}

// "bos_token": "<s>" | {"content": "<s>", ...} (AddedToken) | null.
std::optional<std::string> token_field(const json& j, const char* key) {
  if (!j.contains(key)) return std::nullopt;
  const json& v = j.at(key);
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v.at("content").is_string()) return v.at("content").get<std::string>();
  return std::nullopt;
}

// "eos_token_id": 2 | [128001, 128009] | null.
std::vector<TokenId> id_list(const json& j, const char* key) {
  std::vector<TokenId> out;
  if (!j.contains(key)) return out;
  const json& v = j.at(key);
  if (v.is_number_integer()) out.push_back(v.get<TokenId>());
  if (v.is_array())
    for (const auto& x : v)
      if (x.is_number_integer()) out.push_back(x.get<TokenId>());
  return out;
}

}  // namespace

TokenizerConfig read_tokenizer_config(const std::filesystem::path& model_dir) {
  TokenizerConfig c;
  if (auto j = read_json(model_dir / "tokenizer_config.json"); j && j->is_object()) {
    c.bos_token = token_field(*j, "bos_token");
    c.eos_token = token_field(*j, "eos_token");
    if (j->contains("add_bos_token") && j->at("add_bos_token").is_boolean()) c.add_bos_token = j->at("add_bos_token").get<bool>();
    if (j->contains("legacy") && j->at("legacy").is_boolean()) c.legacy = j->at("legacy").get<bool>();
  }
  // generation_config.json is what generate() stops on; config.json is the older place.
  for (const char* name : {"generation_config.json", "config.json"}) {
    auto j = read_json(model_dir / name);
    if (!j || !j->is_object()) continue;
    if (c.eos_token_ids.empty()) c.eos_token_ids = id_list(*j, "eos_token_id");
    if (!c.bos_token_id) {
      const auto bos = id_list(*j, "bos_token_id");
      if (!bos.empty()) c.bos_token_id = bos.front();
    }
  }
  return c;
}

// ---------------------------------------------------------------------------------------------
// Loading

std::unique_ptr<Tokenizer> load_tokenizer(const std::filesystem::path& path) {
  // A GGUF model carries its tokenizer in its metadata.
  if (const auto gguf = gguf_model_file(path)) {
    const auto file = GgufFile::open(*gguf);
    TokenizerConfig config;
    if (file->find("tokenizer.ggml.bos_token_id"))
      config.bos_token_id = TokenId(file->get_uint("tokenizer.ggml.bos_token_id"));
    if (file->find("tokenizer.ggml.eos_token_id"))
      config.eos_token_ids = {TokenId(file->get_uint("tokenizer.ggml.eos_token_id"))};
    config.add_bos_token = file->find("tokenizer.ggml.add_bos_token") && file->get_bool("tokenizer.ggml.add_bos_token");
    return BpeTokenizer::from_json_text(tokenizer_json_from_gguf(*file), gguf->string(), config);
  }
  std::error_code ec;
  // A tokenizer file itself is accepted too: its folder holds the configs.
  const bool is_file = std::filesystem::is_regular_file(path, ec);
  const auto dir = is_file ? path.parent_path() : path;
  if (!is_file && !std::filesystem::is_directory(path, ec))
    throw InputError(fmt::format("{}: no such model folder", path.string()));
  const auto json_file = is_file ? (path.extension() == ".json" ? path : std::filesystem::path()) : dir / "tokenizer.json";
  const auto model_file = is_file ? (path.extension() == ".json" ? dir / "tokenizer.model" : path) : dir / "tokenizer.model";
  const auto config = read_tokenizer_config(dir);

  if (!json_file.empty() && std::filesystem::is_regular_file(json_file, ec)) {
    bool sentencepiece_style = false;
    const bool have_model = std::filesystem::is_regular_file(model_file, ec);
    auto bpe = BpeTokenizer::from_file(json_file, config, have_model ? &sentencepiece_style : nullptr);
    if (bpe) return bpe;
    // A Llama-2 / Mistral tokenizer.json converted from tokenizer.model: encode with the
    // original, placing "▁" where the tokenizer.json (what transformers runs) places it.
    return std::make_unique<SentencePieceTokenizer>(model_file, config, dummy_prefix_rule_of(json_file));
  }
  if (std::filesystem::is_regular_file(model_file, ec))
    return std::make_unique<SentencePieceTokenizer>(model_file, config);
  throw InputError(fmt::format("{}: no tokenizer.json or tokenizer.model", dir.string()));
}

// ---------------------------------------------------------------------------------------------
// StreamDecoder

StreamDecoder::StreamDecoder(const Tokenizer& tokenizer, bool skip_special)
    : tokenizer_(tokenizer), skip_special_(skip_special) {}

std::string StreamDecoder::push(TokenId id) {
  const bool special = tokenizer_.is_special(id);
  if (skip_special_ && special) return {};
  std::string bytes = tokenizer_.token_bytes(id);
  if (first_ && !bytes.empty()) {
    first_ = false;
    // Same rule as decode(): SentencePiece's dummy prefix gives no space before the first word.
    if (tokenizer_.strips_leading_space() && !special && bytes.front() == ' ') bytes.erase(0, 1);
  }
  pending_ += bytes;
  const std::size_t complete = utf8_complete_prefix(pending_);
  std::string out = utf8_lossy(std::string_view(pending_).substr(0, complete));
  pending_.erase(0, complete);
  return out;
}

std::string StreamDecoder::finish() {
  std::string out = utf8_lossy(pending_);
  pending_.clear();
  return out;
}

}  // namespace qread::model
