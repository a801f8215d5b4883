// Byte-level BPE from a Hugging Face tokenizer.json; see bpe_tokenizer.hpp.
#include "model/bpe_tokenizer.hpp"
#include "common/utf8.hpp"

#include "qread/error.hpp"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#if QREAD_WITH_ICU
#include <unicode/bytestream.h>
#include <unicode/normalizer2.h>
#include <unicode/stringpiece.h>
#endif

#include <algorithm>
#include <deque>
#include <fstream>
#include <sstream>

namespace qread::model {

using json = nlohmann::json;

// ---------------------------------------------------------------------------------------------
// UTF-8 bits
namespace {

std::size_t utf8_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if ((lead >> 5) == 0x6) return 2;
  if ((lead >> 4) == 0xE) return 3;
  if ((lead >> 3) == 0x1E) return 4;
  return 1;  // stray byte: callers only see valid UTF-8, this keeps loops moving regardless
}

// Decodes the character at `i` of valid UTF-8 and advances `i`.
std::uint32_t next_code_point(std::string_view s, std::size_t& i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  const std::size_t n = std::min(utf8_length(b0), s.size() - i);
  std::uint32_t cp = n == 1 ? b0 : (b0 & (0xFF >> (n + 1)));
  for (std::size_t k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  i += n;
  return cp;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// GPT-2 byte <-> character map: printable Latin-1 bytes stand for themselves, the other 68
// bytes (controls, space, DEL, NBSP, soft hyphen) take the code points from U+0100 on, in byte
// order. This keeps every byte visible and the vocabulary free of whitespace.

const std::array<std::string, 256>& byte_level_alphabet() {
  static const std::array<std::string, 256> alphabet = [] {
    std::array<std::string, 256> a;
    std::uint32_t next = 256;
    for (std::uint32_t b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
      append_utf8(a[b], printable ? b : next++);
    }
    return a;
  }();
  return alphabet;
}

namespace {
const std::unordered_map<std::uint32_t, unsigned char>& byte_level_inverse() {
  static const std::unordered_map<std::uint32_t, unsigned char> inverse = [] {
    std::unordered_map<std::uint32_t, unsigned char> m;
    const auto& a = byte_level_alphabet();
    for (int b = 0; b < 256; ++b) {
      std::size_t i = 0;
      m.emplace(next_code_point(a[b], i), static_cast<unsigned char>(b));
    }
    return m;
  }();
  return inverse;
}
}  // namespace

std::string byte_level_encode(std::string_view bytes) {
  const auto& a = byte_level_alphabet();
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) out += a[b];
  return out;
}

std::string byte_level_decode(std::string_view mapped) {
  const auto& inverse = byte_level_inverse();
  std::string out;
  out.reserve(mapped.size());
  for (std::size_t i = 0; i < mapped.size();) {
    const std::size_t start = i;
    const std::uint32_t cp = next_code_point(mapped, i);
    if (auto it = inverse.find(cp); it != inverse.end())
      out += static_cast<char>(it->second);
    else
      out.append(mapped.substr(start, i - start));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// PCRE2

struct RegexSplitter::Compiled {
  pcre2_code* code = nullptr;
  std::string pattern;
  ~Compiled() { pcre2_code_free(code); }
};

RegexSplitter::RegexSplitter(std::string_view pattern) {
  auto compiled = std::make_shared<Compiled>();
  compiled->pattern = std::string(pattern);
  int error = 0;
  PCRE2_SIZE offset = 0;
  // UCP: \s, \d, \w and POSIX classes follow Unicode, as Oniguruma (HF's regex engine) does.
  compiled->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                 PCRE2_UTF | PCRE2_UCP, &error, &offset, nullptr);
  if (compiled->code == nullptr) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error, message, sizeof message);
    throw InputError(fmt::format("regular expression '{}': {} at offset {}", pattern,
                                 reinterpret_cast<const char*>(message), offset));
  }
  // JIT is several times faster; without it (unsupported CPU) the interpreter still works.
  pcre2_jit_compile(compiled->code, PCRE2_JIT_COMPLETE);
  compiled_ = std::move(compiled);
}

namespace {
// One JIT stack per thread, large enough for long whitespace runs (\s+(?!\S) backtracks).
pcre2_match_context* thread_match_context() {
  struct Context {
    pcre2_jit_stack* stack = pcre2_jit_stack_create(64 * 1024, 16 * 1024 * 1024, nullptr);
    pcre2_match_context* context = pcre2_match_context_create(nullptr);
    Context() {
      if (stack && context) pcre2_jit_stack_assign(context, nullptr, stack);
    }
    ~Context() {
      pcre2_match_context_free(context);
      pcre2_jit_stack_free(stack);
    }
  };
  thread_local Context context;
  return context.context;
}
}  // namespace

std::vector<RegexSplitter::Piece> RegexSplitter::split(std::string_view text) const {
  std::vector<Piece> out;
  if (text.empty()) return out;
  std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> match(
      pcre2_match_data_create_from_pattern(compiled_->code, nullptr), &pcre2_match_data_free);
  if (!match) throw std::bad_alloc();
  auto* context = thread_match_context();
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  std::size_t pos = 0, gap_start = 0;
  while (pos < text.size()) {
    // The caller guarantees valid UTF-8; skipping PCRE2's check keeps each call O(match).
    int rc = pcre2_match(compiled_->code, subject, text.size(), pos, PCRE2_NO_UTF_CHECK, match.get(), context);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
      rc = pcre2_match(compiled_->code, subject, text.size(), pos, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT,
                       match.get(), context);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(rc, message, sizeof message);
      throw Error(fmt::format("regular expression '{}' failed: {}", compiled_->pattern,
                              reinterpret_cast<const char*>(message)));
    }
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(match.get());
    const std::size_t begin = ovector[0], end = ovector[1];
    if (end == begin) {  // empty match: nothing to cut, move on by one character
      pos = begin + utf8_length(static_cast<unsigned char>(text[begin]));
      continue;
    }
    if (begin > gap_start) out.push_back({text.substr(gap_start, begin - gap_start), false});
    out.push_back({text.substr(begin, end - begin), true});
    pos = gap_start = end;
  }
  if (gap_start < text.size()) out.push_back({text.substr(gap_start), false});
  return out;
}

// ---------------------------------------------------------------------------------------------
// The tokenizer

namespace {

enum class SplitBehavior { Isolated, Removed, MergedWithPrevious, MergedWithNext, Contiguous };

struct PreTokenizerStep {
  enum class Kind { Split, ByteLevel, Digits } kind;
  std::shared_ptr<RegexSplitter> regex;  // Split; ByteLevel with use_regex; Digits
  SplitBehavior behavior = SplitBehavior::Isolated;
  bool invert = false;
  bool add_prefix_space = false;  // ByteLevel
};

struct AddedToken {
  TokenId id;
  std::string content;
  bool special = false, lstrip = false, rstrip = false;
};

struct Merge {
  std::int32_t rank;
  TokenId result;
};

std::uint64_t pair_key(TokenId left, TokenId right) {
  return (std::uint64_t(std::uint32_t(left)) << 32) | std::uint32_t(right);
}

bool is_space_byte(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

// A pattern from tokenizer.json: {"Regex": "..."} or {"String": "literal"}.
std::string pattern_of(const json& pattern, const std::string& source) {
  if (pattern.contains("Regex")) return pattern.at("Regex").get<std::string>();
  if (pattern.contains("String")) {
    // A literal: quote it for PCRE2.
    return "\\Q" + pattern.at("String").get<std::string>() + "\\E";
  }
  throw InputError(fmt::format("{}: Split pattern is neither Regex nor String", source));
}

SplitBehavior behavior_of(const std::string& name) {
  if (name == "Isolated") return SplitBehavior::Isolated;
  if (name == "Removed") return SplitBehavior::Removed;
  if (name == "MergedWithPrevious") return SplitBehavior::MergedWithPrevious;
  if (name == "MergedWithNext") return SplitBehavior::MergedWithNext;
  if (name == "Contiguous") return SplitBehavior::Contiguous;
  throw InputError(fmt::format("unknown Split behavior '{}'", name));
}

std::string json_type(const json& j) { return j.is_object() ? j.value("type", std::string("?")) : std::string("?"); }

// Every component of a (possibly Sequence) normalizer / pre_tokenizer / decoder, flattened.
void flatten(const json& j, const char* list_key, std::vector<json>& out) {
  if (j.is_null()) return;
  if (json_type(j) == "Sequence" && j.contains(list_key)) {
    for (const auto& item : j.at(list_key)) flatten(item, list_key, out);
  } else {
    out.push_back(j);
  }
}

bool mentions_metaspace(const json& tokenizer) {
  std::vector<json> parts;
  flatten(tokenizer.value("normalizer", json()), "normalizers", parts);
  flatten(tokenizer.value("pre_tokenizer", json()), "pretokenizers", parts);
  flatten(tokenizer.value("decoder", json()), "decoders", parts);
  for (const auto& p : parts) {
    const auto type = json_type(p);
    if (type == "Metaspace" || type == "Prepend" || type == "ByteFallback") return true;
    if (type == "Replace" && p.dump().find("\u2581") != std::string::npos) return true;
  }
  const auto& model = tokenizer.at("model");
  return model.value("byte_fallback", false);
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(fmt::format("{}: cannot open", path.string()));
  std::ostringstream s;
  s << in.rdbuf();
  if (!in && !in.eof()) throw InputError(fmt::format("{}: read error", path.string()));
  return s.str();
}

}  // namespace

struct BpeTokenizer::Data {
  std::string source;
  std::unordered_map<std::string, TokenId> vocab;  // model vocab, byte-level form
  std::vector<std::string> id_bytes;               // raw bytes per id ("" for holes)
  std::vector<std::uint8_t> id_flags;              // kAssigned | kSpecial | kAdded
  std::unordered_map<std::uint64_t, Merge> merges;
  std::array<TokenId, 256> byte_ids{};  // id of each single-byte symbol, -1 when absent
  bool ignore_merges = false;
  std::optional<TokenId> unk;
  bool fuse_unk = false;

  std::vector<AddedToken> added;
  std::unordered_map<std::string, TokenId> added_by_content;
  std::array<std::vector<std::size_t>, 256> added_by_first_byte;  // indices into `added`, longest first

  bool nfc = false;
  std::vector<PreTokenizerStep> steps;

  std::vector<TokenId> bos_prefix;  // what add_bos puts in front
  std::optional<TokenId> bos, eos;
  std::vector<TokenId> eos_all;

  static constexpr std::uint8_t kAssigned = 1, kSpecial = 2, kAdded = 4;

  bool valid(TokenId id) const { return id >= 0 && std::size_t(id) < id_flags.size() && (id_flags[id] & kAssigned); }

  std::optional<TokenId> lookup(std::string_view token) const {
    if (auto it = added_by_content.find(std::string(token)); it != added_by_content.end()) return it->second;
    if (auto it = vocab.find(std::string(token)); it != vocab.end()) return it->second;
    return std::nullopt;
  }

  // Normalization of one stretch of text between added tokens.
  std::string normalize(std::string_view text) const;
  // Pre-tokens of normalized text, as views into `text` or `arena`.
  void pre_tokenize(std::string_view text, std::vector<std::string_view>& pieces, std::deque<std::string>& arena) const;
  // BPE of one pre-token's bytes.
  void bpe(std::string_view bytes, std::vector<TokenId>& out) const;
};

std::string BpeTokenizer::Data::normalize(std::string_view text) const {
  if (!nfc) return std::string(text);
  // ASCII is NFC already; most text of most documents takes this path.
  if (std::all_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; }))
    return std::string(text);
#if QREAD_WITH_ICU
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* normalizer = icu::Normalizer2::getNFCInstance(status);
  if (U_FAILURE(status)) throw Error(fmt::format("ICU NFC normalizer unavailable: {}", u_errorName(status)));
  const icu::StringPiece piece(text.data(), static_cast<int32_t>(text.size()));
  if (normalizer->isNormalizedUTF8(piece, status) && U_SUCCESS(status)) return std::string(text);
  status = U_ZERO_ERROR;
  std::string out;
  icu::StringByteSink<std::string> sink(&out);
  normalizer->normalizeUTF8(0, piece, sink, nullptr, status);
  if (U_FAILURE(status)) throw Error(fmt::format("NFC normalization failed: {}", u_errorName(status)));
  return out;
#else
  // Built without ICU: text goes through unchanged, which differs from HF only for text that
  // is not NFC already (decomposed accents).
  return std::string(text);
#endif
}

void BpeTokenizer::Data::pre_tokenize(std::string_view text, std::vector<std::string_view>& pieces,
                                      std::deque<std::string>& arena) const {
  pieces.clear();
  if (text.empty()) return;
  pieces.push_back(text);
  std::vector<std::string_view> next;
  for (const auto& step : steps) {
    next.clear();
    for (std::string_view piece : pieces) {
      std::string_view input = piece;
      if (step.kind == PreTokenizerStep::Kind::ByteLevel && step.add_prefix_space && !piece.empty() &&
          piece.front() != ' ') {
        // (Built by append: GCC 12 warns falsely about " " + std::string.)
        std::string& prefixed = arena.emplace_back(1, ' ');
        prefixed.append(piece);
        input = prefixed;
      }
      if (!step.regex) {  // ByteLevel without use_regex: the piece as is
        next.push_back(input);
        continue;
      }
      auto parts = step.regex->split(input);
      if (step.invert)
        for (auto& p : parts) p.is_match = !p.is_match;
      // Pieces are adjacent views into `input`, so merging two is widening a view.
      auto widen = [](std::string_view a, std::string_view b) {
        return std::string_view(a.data(), std::size_t(b.data() + b.size() - a.data()));
      };
      switch (step.behavior) {
        case SplitBehavior::Isolated:
          for (const auto& p : parts) next.push_back(p.text);
          break;
        case SplitBehavior::Removed:
          for (const auto& p : parts)
            if (!p.is_match) next.push_back(p.text);
          break;
        case SplitBehavior::MergedWithPrevious: {
          bool can_merge = false;  // the last piece is a stretch without a delimiter yet
          for (const auto& p : parts) {
            if (p.is_match && can_merge) {
              next.back() = widen(next.back(), p.text);
              can_merge = false;
            } else {
              next.push_back(p.text);
              can_merge = !p.is_match;
            }
          }
          break;
        }
        case SplitBehavior::MergedWithNext: {
          bool pending = false;  // the last piece is a delimiter waiting for its stretch
          for (const auto& p : parts) {
            if (!p.is_match && pending) {
              next.back() = widen(next.back(), p.text);
              pending = false;
            } else {  // a stretch after a stretch, or a delimiter (after a lone one, that stays alone)
              next.push_back(p.text);
              pending = p.is_match;
            }
          }
          break;
        }
        case SplitBehavior::Contiguous: {
          bool last_match = false;
          for (const auto& p : parts) {
            if (p.is_match && last_match)
              next.back() = widen(next.back(), p.text);
            else
              next.push_back(p.text);
            last_match = p.is_match;
          }
          break;
        }
      }
    }
    pieces.swap(next);
  }
}

void BpeTokenizer::Data::bpe(std::string_view bytes, std::vector<TokenId>& out) const {
  if (bytes.empty()) return;
  if (ignore_merges) {  // Llama-3: a pre-token that is a whole vocabulary entry is taken as is
    if (auto it = vocab.find(byte_level_encode(bytes)); it != vocab.end()) {
      out.push_back(it->second);
      return;
    }
  }
  struct Symbol {
    TokenId id;
    int prev, next;
    bool alive;
  };
  std::vector<Symbol> symbols;
  symbols.reserve(bytes.size());
  for (unsigned char b : bytes) {
    TokenId id = byte_ids[b];
    if (id < 0) {
      if (!unk) continue;  // as `tokenizers`: a byte outside the vocabulary without <unk> is dropped
      id = *unk;
      if (fuse_unk && !symbols.empty() && symbols.back().id == *unk) continue;
    }
    const int index = int(symbols.size());
    symbols.push_back({id, index - 1, -1, true});
    if (index > 0) symbols[index - 1].next = index;
  }
  if (symbols.size() > 1) {
    // Lowest rank first; among equal ranks the leftmost pair, as `tokenizers` does.
    struct Candidate {
      std::int32_t rank;
      int pos;
      bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
    };
    std::vector<Candidate> heap;
    auto push = [&](int pos) {
      const int next = symbols[pos].next;
      if (next < 0) return;
      if (auto it = merges.find(pair_key(symbols[pos].id, symbols[next].id)); it != merges.end()) {
        heap.push_back({it->second.rank, pos});
        std::push_heap(heap.begin(), heap.end(), std::greater<>());
      }
    };
    for (int i = 0; i + 1 < int(symbols.size()); ++i) push(i);
    while (!heap.empty()) {
      std::pop_heap(heap.begin(), heap.end(), std::greater<>());
      const Candidate top = heap.back();
      heap.pop_back();
      Symbol& left = symbols[top.pos];
      if (!left.alive || left.next < 0) continue;
      const auto it = merges.find(pair_key(left.id, symbols[left.next].id));
      if (it == merges.end() || it->second.rank != top.rank) continue;  // stale: the pair changed
      Symbol& right = symbols[left.next];
      left.id = it->second.result;
      right.alive = false;
      left.next = right.next;
      if (right.next >= 0) symbols[right.next].prev = top.pos;
      if (left.prev >= 0) push(left.prev);
      push(top.pos);
    }
  }
  for (int i = symbols.empty() ? -1 : 0; i >= 0; i = symbols[i].next) out.push_back(symbols[i].id);
}

// ---------------------------------------------------------------------------------------------
// Loading

BpeTokenizer::BpeTokenizer(std::unique_ptr<Data> data) : d_(std::move(data)) {}
BpeTokenizer::~BpeTokenizer() = default;

std::unique_ptr<BpeTokenizer> BpeTokenizer::from_file(const std::filesystem::path& tokenizer_json,
                                                      const TokenizerConfig& config, bool* sentencepiece_style) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(tokenizer_json, ec))
    throw InputError(fmt::format("{}: no such file", tokenizer_json.string()));
  return from_json_text(read_file(tokenizer_json), tokenizer_json.string(), config, sentencepiece_style);
}

std::unique_ptr<BpeTokenizer> BpeTokenizer::from_json_text(std::string_view text, const std::string& source,
                                                           const TokenizerConfig& config,
                                                           bool* sentencepiece_style) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    throw InputError(fmt::format("{}: not valid JSON: {}", source, e.what()));
  }
  auto d = std::make_unique<Data>();
  d->source = source;
  auto fail = [&](const std::string& what) { return InputError(fmt::format("{}: {}", source, what)); };

  try {
    if (!j.is_object() || !j.contains("model") || !j.at("model").is_object())
      throw fail("not a tokenizer.json (no \"model\" object)");
    const json& model = j.at("model");
    const std::string type = model.value("type", std::string());
    if (type != "BPE" && !(type.empty() && model.contains("merges")))
      throw fail(fmt::format("model type '{}' is not supported (only byte-level BPE)", type));

    // Byte-level or SentencePiece-style?
    std::vector<json> pre;
    flatten(j.value("pre_tokenizer", json()), "pretokenizers", pre);
    const bool byte_level = std::any_of(pre.begin(), pre.end(), [](const json& p) { return json_type(p) == "ByteLevel"; });
    if (!byte_level) {
      if (mentions_metaspace(j)) {
        if (sentencepiece_style) {
          *sentencepiece_style = true;
          return nullptr;
        }
        throw fail("a SentencePiece-style BPE (Metaspace, byte fallback); qread reads such models from "
                   "their tokenizer.model, which this folder lacks");
      }
      throw fail("BPE without a ByteLevel pre-tokenizer is not supported");
    }

    // Vocabulary.
    if (!model.contains("vocab") || !model.at("vocab").is_object()) throw fail("model.vocab is missing");
    TokenId max_id = -1;
    for (const auto& [token, id_json] : model.at("vocab").items()) {
      const auto id = id_json.get<TokenId>();
      if (id < 0) throw fail(fmt::format("negative id {} for token '{}'", id, token));
      d->vocab.emplace(token, id);
      max_id = std::max(max_id, id);
    }
    std::vector<AddedToken> added;
    for (const auto& a : j.value("added_tokens", json::array())) {
      AddedToken t{a.at("id").get<TokenId>(), a.at("content").get<std::string>(), a.value("special", false),
                   a.value("lstrip", false), a.value("rstrip", false)};
      if (t.id < 0) throw fail(fmt::format("negative id {} for added token '{}'", t.id, t.content));
      if (t.content.empty()) throw fail(fmt::format("added token {} has empty content", t.id));
      max_id = std::max(max_id, t.id);
      added.push_back(std::move(t));
    }
    if (max_id < 0) throw fail("empty vocabulary");
    d->id_bytes.assign(std::size_t(max_id) + 1, std::string());
    d->id_flags.assign(std::size_t(max_id) + 1, 0);
    for (const auto& [token, id] : d->vocab) {
      d->id_bytes[id] = byte_level_decode(token);
      d->id_flags[id] |= Data::kAssigned;
    }
    for (auto& t : added) {
      d->id_bytes[t.id] = t.content;  // added tokens are literal text, not byte-level mapped
      d->id_flags[t.id] |= Data::kAssigned | Data::kAdded | (t.special ? Data::kSpecial : 0);
      d->added_by_content[t.content] = t.id;
    }
    d->added = std::move(added);
    for (std::size_t i = 0; i < d->added.size(); ++i)
      d->added_by_first_byte[static_cast<unsigned char>(d->added[i].content[0])].push_back(i);
    for (auto& bucket : d->added_by_first_byte)
      std::stable_sort(bucket.begin(), bucket.end(), [&](std::size_t a, std::size_t b) {
        return d->added[a].content.size() > d->added[b].content.size();
      });

    const auto& alphabet = byte_level_alphabet();
    for (int b = 0; b < 256; ++b) {
      auto it = d->vocab.find(alphabet[b]);
      d->byte_ids[b] = it == d->vocab.end() ? -1 : it->second;
    }
    if (model.contains("unk_token") && model.at("unk_token").is_string()) {
      const auto unk = model.at("unk_token").get<std::string>();
      if (auto id = d->lookup(unk)) d->unk = *id;
      else throw fail(fmt::format("unk_token '{}' is not in the vocabulary", unk));
    }
    d->fuse_unk = model.value("fuse_unk", false);
    d->ignore_merges = model.value("ignore_merges", false);
    if (!model.value("continuing_subword_prefix", json()).is_null() &&
        !model.at("continuing_subword_prefix").get<std::string>().empty())
      throw fail("continuing_subword_prefix is not supported");
    if (!model.value("end_of_word_suffix", json()).is_null() &&
        !model.at("end_of_word_suffix").get<std::string>().empty())
      throw fail("end_of_word_suffix is not supported");

    // Merges: "left right" strings (older files) or ["left", "right"] pairs (tokenizers >= 0.20).
    if (!model.contains("merges") || !model.at("merges").is_array()) throw fail("model.merges is missing");
    std::int32_t rank = 0;
    for (const auto& m : model.at("merges")) {
      std::string left, right;
      if (m.is_string()) {
        const auto& s = m.get_ref<const std::string&>();
        const auto space = s.find(' ');
        if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos)
          throw fail(fmt::format("merge {} ('{}') is not two tokens", rank, s));
        left = s.substr(0, space);
        right = s.substr(space + 1);
      } else if (m.is_array() && m.size() == 2) {
        left = m[0].get<std::string>();
        right = m[1].get<std::string>();
      } else {
        throw fail(fmt::format("merge {} is neither \"a b\" nor [\"a\", \"b\"]", rank));
      }
      const auto l = d->vocab.find(left), r = d->vocab.find(right), result = d->vocab.find(left + right);
      if (l == d->vocab.end() || r == d->vocab.end() || result == d->vocab.end())
        throw fail(fmt::format("merge {} ('{}' '{}') uses a token that is not in the vocabulary", rank, left, right));
      // The first occurrence of a pair wins, as in `tokenizers`.
      d->merges.emplace(pair_key(l->second, r->second), Merge{rank, result->second});
      ++rank;
    }

    // Normalizer: none or NFC.
    std::vector<json> normalizers;
    flatten(j.value("normalizer", json()), "normalizers", normalizers);
    for (const auto& n : normalizers) {
      const auto t = json_type(n);
      if (t == "NFC")
        d->nfc = true;
      else
        throw fail(fmt::format("normalizer '{}' is not supported (only NFC)", t));
    }

    // Pre-tokenizer steps.
    for (const auto& p : pre) {
      const auto t = json_type(p);
      PreTokenizerStep step{};
      if (t == "Split") {
        step.kind = PreTokenizerStep::Kind::Split;
        step.regex = std::make_shared<RegexSplitter>(pattern_of(p.at("pattern"), source));
        step.behavior = behavior_of(p.value("behavior", std::string("Isolated")));
        step.invert = p.value("invert", false);
      } else if (t == "ByteLevel") {
        step.kind = PreTokenizerStep::Kind::ByteLevel;
        step.add_prefix_space = p.value("add_prefix_space", false);
        if (p.value("use_regex", true)) step.regex = std::make_shared<RegexSplitter>(kGpt2Pattern);
      } else if (t == "Digits") {
        step.kind = PreTokenizerStep::Kind::Digits;
        // Rust's char::is_numeric: the Unicode N categories.
        step.regex = std::make_shared<RegexSplitter>(p.value("individual_digits", false) ? R"(\p{N})" : R"(\p{N}+)");
      } else {
        throw fail(fmt::format("pre_tokenizer '{}' is not supported", t));
      }
      d->steps.push_back(std::move(step));
    }

    // Post-processor: the special tokens a TemplateProcessing puts before $A become the BOS prefix.
    std::vector<json> post;
    flatten(j.value("post_processor", json()), "processors", post);
    for (const auto& p : post) {
      if (json_type(p) != "TemplateProcessing") continue;
      for (const auto& item : p.at("single")) {
        if (item.contains("Sequence")) break;
        if (!item.contains("SpecialToken")) continue;
        const auto name = item.at("SpecialToken").at("id").get<std::string>();
        const json specials = p.value("special_tokens", json::object());
        if (specials.contains(name)) {
          for (const auto& id : specials.at(name).at("ids")) d->bos_prefix.push_back(id.get<TokenId>());
        } else if (auto id = d->lookup(name)) {
          d->bos_prefix.push_back(*id);
        } else {
          throw fail(fmt::format("post_processor special token '{}' is not in the vocabulary", name));
        }
      }
    }
  } catch (const json::exception& e) {
    throw fail(fmt::format("malformed tokenizer.json: {}", e.what()));
  }

  // BOS / EOS: the post-processor's first special token, else tokenizer_config.json, else
  // generation_config.json / config.json ids.
  auto known = [&](const std::optional<std::string>& token, const char* field) -> std::optional<TokenId> {
    if (!token) return std::nullopt;
    if (auto id = d->lookup(*token)) return id;
    throw InputError(fmt::format("{}: tokenizer_config.json's {} '{}' is not in the vocabulary", source, field, *token));
  };
  auto in_range = [&](std::optional<TokenId> id) { return id && d->valid(*id) ? id : std::nullopt; };
  d->bos = !d->bos_prefix.empty() ? std::optional<TokenId>(d->bos_prefix.front()) : known(config.bos_token, "bos_token");
  if (!d->bos) d->bos = in_range(config.bos_token_id);
  if (d->bos_prefix.empty() && config.add_bos_token.value_or(false) && d->bos) d->bos_prefix = {*d->bos};
  d->eos = known(config.eos_token, "eos_token");
  if (!d->eos && !config.eos_token_ids.empty()) d->eos = in_range(config.eos_token_ids.front());
  if (d->eos) d->eos_all.push_back(*d->eos);
  for (TokenId id : config.eos_token_ids)
    if (d->valid(id) && std::find(d->eos_all.begin(), d->eos_all.end(), id) == d->eos_all.end())
      d->eos_all.push_back(id);
  return std::unique_ptr<BpeTokenizer>(new BpeTokenizer(std::move(d)));
}

// ---------------------------------------------------------------------------------------------
// Encoding and decoding

std::vector<TokenId> BpeTokenizer::encode(std::string_view raw_text, bool add_bos) const {
  const std::string text = utf8_lossy(raw_text);  // PCRE2 needs valid UTF-8; HF sees Python str
  std::vector<TokenId> out;
  out.reserve(text.size() / 3 + 4);
  if (add_bos) out.insert(out.end(), d_->bos_prefix.begin(), d_->bos_prefix.end());

  // Per-call cache of pre-token -> ids: words repeat a lot in any document.
  std::unordered_map<std::string, std::vector<TokenId>> cache;
  std::vector<std::string_view> pieces;
  std::deque<std::string> arena;
  auto encode_stretch = [&](std::string_view stretch) {
    if (stretch.empty()) return;
    const std::string normalized = d_->normalize(stretch);
    arena.clear();
    d_->pre_tokenize(normalized, pieces, arena);
    for (std::string_view piece : pieces) {
      auto [it, inserted] = cache.try_emplace(std::string(piece));
      if (inserted) d_->bpe(piece, it->second);
      out.insert(out.end(), it->second.begin(), it->second.end());
    }
  };

  // Split out added tokens, leftmost-longest. `start` is where the pending stretch begins.
  std::size_t start = 0, i = 0;
  while (i < text.size()) {
    const auto& bucket = d_->added_by_first_byte[static_cast<unsigned char>(text[i])];
    const AddedToken* hit = nullptr;
    for (std::size_t index : bucket) {
      const auto& t = d_->added[index];
      if (text.compare(i, t.content.size(), t.content) == 0) {
        hit = &t;
        break;
      }
    }
    if (hit == nullptr) {
      ++i;
      continue;
    }
    std::size_t stretch_end = i, next = i + hit->content.size();
    if (hit->lstrip)
      while (stretch_end > start && is_space_byte(text[stretch_end - 1])) --stretch_end;
    if (hit->rstrip)
      while (next < text.size() && is_space_byte(text[next])) ++next;
    encode_stretch(std::string_view(text).substr(start, stretch_end - start));
    out.push_back(hit->id);
    start = i = next;
  }
  encode_stretch(std::string_view(text).substr(start));
  return out;
}

std::vector<std::string> BpeTokenizer::pre_tokenize(std::string_view text) const {
  const std::string normalized = d_->normalize(utf8_lossy(text));
  std::vector<std::string_view> pieces;
  std::deque<std::string> arena;
  d_->pre_tokenize(normalized, pieces, arena);
  return {pieces.begin(), pieces.end()};
}

std::string BpeTokenizer::decode(std::span<const TokenId> ids, bool skip_special) const {
  std::string bytes;
  for (TokenId id : ids) {
    if (!d_->valid(id)) continue;  // ids past the tokenizer (padded embeddings) decode to nothing
    if (skip_special && (d_->id_flags[id] & Data::kSpecial)) continue;
    bytes += d_->id_bytes[id];
  }
  return utf8_lossy(bytes);
}

std::string BpeTokenizer::token_bytes(TokenId id) const { return d_->valid(id) ? d_->id_bytes[id] : std::string(); }
std::size_t BpeTokenizer::vocab_size() const { return d_->id_flags.size(); }
std::optional<TokenId> BpeTokenizer::bos_id() const { return d_->bos; }
std::optional<TokenId> BpeTokenizer::eos_id() const { return d_->eos; }
std::vector<TokenId> BpeTokenizer::eos_ids() const { return d_->eos_all; }
std::optional<TokenId> BpeTokenizer::token_to_id(std::string_view token) const { return d_->lookup(token); }
bool BpeTokenizer::is_special(TokenId id) const { return d_->valid(id) && (d_->id_flags[id] & Data::kSpecial); }

}  // namespace qread::model
