// Tokenizer training for test models; see tokenizer_training.hpp.
#include "model/tokenizer_training.hpp"

#include "model/bpe_tokenizer.hpp"
#include "model/spm_library.hpp"
#include "qread/tokenizer.hpp"
#include "qread/error.hpp"

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <fstream>
#include <map>
#include <unordered_map>
#include <vector>

namespace qread::model {

namespace {

constexpr int kSpmMetaPieces = 3 + 256;  // <unk> <s> </s> and the byte pieces

void write_file(const std::filesystem::path& path, std::string_view text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(text.data(), std::streamsize(text.size()));
  out.close();
  if (!out) throw Error(fmt::format("{}: cannot write", path.string()));
}

void make_parent(const std::filesystem::path& file) {
  std::error_code ec;
  if (file.has_parent_path()) std::filesystem::create_directories(file.parent_path(), ec);
  if (ec) throw Error(fmt::format("{}: cannot create the folder: {}", file.parent_path().string(), ec.message()));
}

// A scratch folder beside the output, removed on scope exit.
class ScratchDir {
 public:
  explicit ScratchDir(const std::filesystem::path& near) {
    static std::atomic<unsigned> counter{0};
    const auto parent = near.has_parent_path() ? near.parent_path() : std::filesystem::path(".");
    path_ = parent / fmt::format(".qread-train-{}-{}", ::getpid(), counter++);
    std::error_code ec;
    std::filesystem::create_directories(path_, ec);
    if (ec) throw Error(fmt::format("{}: cannot create: {}", path_.string(), ec.message()));
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// The character coverage that keeps at most `max_chars` distinct characters, counted roughly
// as sentencepiece does (spaces as "▁", newlines separate sentences).
double coverage_for(std::string_view text, std::size_t max_chars) {
  std::map<std::string, std::uint64_t> counts;
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < text.size();) {
    const auto b = static_cast<unsigned char>(text[i]);
    const std::size_t n = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xE ? 3 : 4;
    std::string c(text.substr(i, n));
    i += n;
    if (c == "\n" || c == "\r") continue;
    if (c == " ") c = "\xE2\x96\x81";
    ++counts[c];
    ++total;
  }
  if (counts.size() <= max_chars || total == 0) return 1.0;
  std::vector<std::uint64_t> frequencies;
  for (const auto& [c, n] : counts) frequencies.push_back(n);
  std::sort(frequencies.rbegin(), frequencies.rend());
  std::uint64_t kept = 0;
  for (std::size_t k = 0; k < max_chars; ++k) kept += frequencies[k];
  // sentencepiece stops adding characters once the covered share reaches the coverage.
  return std::max(0.5, double(kept) / double(total) - 1e-6);
}

}  // namespace

std::size_t train_sentencepiece(std::string_view corpus_text, std::int64_t vocab_size,
                                const std::filesystem::path& out_model, SpmModelType type) {
  if (corpus_text.find_first_not_of(" \t\r\n") == std::string_view::npos)
    throw InputError("train_sentencepiece: the corpus is empty");
  if (vocab_size < 300 || vocab_size > 1'000'000)
    throw InputError(fmt::format("train_sentencepiece: vocab_size {} is outside [300, 1000000] (256 byte "
                                 "pieces and 3 specials come first)", vocab_size));
  const std::string text = utf8_lossy(corpus_text);
  make_parent(out_model);
  ScratchDir scratch(out_model);
  const auto corpus_file = scratch.path() / "corpus.txt";
  write_file(corpus_file, text);

  // Room for characters: what is left after the meta pieces, minus a margin for merges.
  const auto max_chars = std::size_t(std::max<std::int64_t>(16, (vocab_size - kSpmMetaPieces) * 3 / 4));
  const double coverage = coverage_for(text, max_chars);
  const std::string options = fmt::format(
      "normalization_rule_name=identity remove_extra_whitespaces=false add_dummy_prefix=true "
      "byte_fallback=true split_digits=true allow_whitespace_only_pieces=true "
      "unk_id=0 bos_id=1 eos_id=2 pad_id=-1 unk_piece=<unk> bos_piece=<s> eos_piece=</s> "
      "character_coverage={:.8f} hard_vocab_limit=false max_sentence_length=1048576 "
      "shuffle_input_sentence=false num_threads=1 minloglevel=2",
      coverage);
  spm_train(corpus_file, scratch.path() / "spm", int(vocab_size), type == SpmModelType::Bpe ? "bpe" : "unigram",
            options);
  std::error_code ec;
  std::filesystem::rename(scratch.path() / "spm.model", out_model, ec);
  if (ec) {
    ec.clear();
    std::filesystem::copy_file(scratch.path() / "spm.model", out_model,
                               std::filesystem::copy_options::overwrite_existing, ec);
    if (ec) throw Error(fmt::format("{}: cannot write: {}", out_model.string(), ec.message()));
  }
  return std::size_t(SpmModel(out_model).vocab_size());
}

// ---------------------------------------------------------------------------------------------

namespace {

constexpr std::array<std::string_view, 5> kLlama3Specials = {
    "<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>", "<|start_header_id|>", "<|end_header_id|>"};

// Meta-Llama-3-Instruct's chat template, so that detect_chat_template() says llama-3-inst.
constexpr std::string_view kLlama3ChatTemplate =
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
    "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + "
    "'<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";

struct Word {
  std::vector<std::int32_t> symbols;
  std::int64_t count;
};

std::uint64_t key(std::int32_t a, std::int32_t b) { return (std::uint64_t(std::uint32_t(a)) << 32) | std::uint32_t(b); }

}  // namespace

std::size_t train_byte_level_bpe(std::string_view corpus_text, std::int64_t vocab_size,
                                 const std::filesystem::path& out_json) {
  const std::int64_t n_special = std::int64_t(kLlama3Specials.size());
  if (vocab_size < 256 + n_special || vocab_size > 1'000'000)
    throw InputError(fmt::format("train_byte_level_bpe: vocab_size {} is outside [{}, 1000000]", vocab_size,
                                 256 + n_special));
  const std::string text = utf8_lossy(corpus_text);
  if (text.empty()) throw InputError("train_byte_level_bpe: the corpus is empty");

  // Pre-tokens as Llama-3 cuts them, with their counts. A std::map keeps the order (and so the
  // result) independent of hashing.
  std::map<std::string, std::int64_t> word_counts;
  for (const auto& piece : RegexSplitter(kLlama3Pattern).split(text)) ++word_counts[std::string(piece.text)];
  std::vector<Word> words;
  for (const auto& [w, n] : word_counts) {
    Word word{{}, n};
    for (unsigned char b : w) word.symbols.push_back(b);
    words.push_back(std::move(word));
  }

  const auto& alphabet = byte_level_alphabet();
  std::vector<std::string> tokens(alphabet.begin(), alphabet.end());  // id b: byte b
  std::unordered_map<std::string, std::int32_t> ids;
  for (std::int32_t b = 0; b < 256; ++b) ids.emplace(tokens[b], b);
  std::vector<std::pair<std::int32_t, std::int32_t>> merges;

  const auto target = std::size_t(vocab_size - n_special);
  while (tokens.size() < target) {
    std::unordered_map<std::uint64_t, std::int64_t> pairs;
    for (const auto& w : words)
      for (std::size_t i = 0; i + 1 < w.symbols.size(); ++i) pairs[key(w.symbols[i], w.symbols[i + 1])] += w.count;
    if (pairs.empty()) break;
    // Most frequent; ties to the smaller (older) ids, so the result is deterministic.
    auto best = pairs.begin();
    for (auto it = pairs.begin(); it != pairs.end(); ++it)
      if (it->second > best->second || (it->second == best->second && it->first < best->first)) best = it;
    const auto left = std::int32_t(best->first >> 32), right = std::int32_t(best->first & 0xFFFFFFFFu);
    const std::string merged = tokens[left] + tokens[right];
    std::int32_t merged_id;
    if (auto it = ids.find(merged); it != ids.end()) {
      merged_id = it->second;  // the same string reached through another pair
    } else {
      merged_id = std::int32_t(tokens.size());
      tokens.push_back(merged);
      ids.emplace(merged, merged_id);
    }
    merges.emplace_back(left, right);
    // Merge left to right, without overlaps: what the encoder does for one rank.
    for (auto& w : words) {
      std::vector<std::int32_t> out;
      out.reserve(w.symbols.size());
      for (std::size_t i = 0; i < w.symbols.size(); ++i) {
        if (i + 1 < w.symbols.size() && w.symbols[i] == left && w.symbols[i + 1] == right) {
          out.push_back(merged_id);
          ++i;
        } else {
          out.push_back(w.symbols[i]);
        }
      }
      w.symbols = std::move(out);
    }
  }

  using ojson = nlohmann::ordered_json;
  ojson vocab = ojson::object();
  for (std::size_t i = 0; i < tokens.size(); ++i) vocab[tokens[i]] = i;
  ojson merge_list = ojson::array();
  for (const auto& [l, r] : merges) merge_list.push_back(tokens[l] + " " + tokens[r]);
  ojson added = ojson::array();
  std::map<std::string, std::int64_t> special_ids;
  for (std::size_t i = 0; i < kLlama3Specials.size(); ++i) {
    const auto id = std::int64_t(tokens.size() + i);
    special_ids[std::string(kLlama3Specials[i])] = id;
    added.push_back({{"id", id},
                     {"content", std::string(kLlama3Specials[i])},
                     {"single_word", false},
                     {"lstrip", false},
                     {"rstrip", false},
                     {"normalized", false},
                     {"special", true}});
  }
  const std::int64_t bos = special_ids.at("<|begin_of_text|>");
  auto special_item = [](const std::string& id, int type_id) {
    return ojson{{"SpecialToken", {{"id", id}, {"type_id", type_id}}}};
  };
  auto sequence_item = [](const std::string& id, int type_id) {
    return ojson{{"Sequence", {{"id", id}, {"type_id", type_id}}}};
  };

  ojson tokenizer = {
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens", added},
      {"normalizer", nullptr},
      {"pre_tokenizer",
       {{"type", "Sequence"},
        {"pretokenizers",
         ojson::array({ojson{{"type", "Split"},
                             {"pattern", {{"Regex", std::string(kLlama3Pattern)}}},
                             {"behavior", "Isolated"},
                             {"invert", false}},
                       ojson{{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", false}}})}}},
      {"post_processor",
       {{"type", "Sequence"},
        {"processors",
         ojson::array(
             {ojson{{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", false}, {"use_regex", true}},
              ojson{{"type", "TemplateProcessing"},
                    {"single", ojson::array({special_item("<|begin_of_text|>", 0), sequence_item("A", 0)})},
                    {"pair", ojson::array({special_item("<|begin_of_text|>", 0), sequence_item("A", 0),
                                           special_item("<|begin_of_text|>", 1), sequence_item("B", 1)})},
                    {"special_tokens",
                     {{"<|begin_of_text|>",
                       {{"id", "<|begin_of_text|>"}, {"ids", ojson::array({bos})}, {"tokens", ojson::array({"<|begin_of_text|>"})}}}}}}})}}},
      {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}}},
      {"model",
       {{"type", "BPE"},
        {"dropout", nullptr},
        {"unk_token", nullptr},
        {"continuing_subword_prefix", nullptr},
        {"end_of_word_suffix", nullptr},
        {"fuse_unk", false},
        {"byte_fallback", false},
        {"ignore_merges", true},
        {"vocab", vocab},
        {"merges", merge_list}}}};

  ojson added_decoder = ojson::object();
  for (const auto& a : added)
    added_decoder[std::to_string(a.at("id").get<std::int64_t>())] = {{"content", a.at("content")},
                                                                     {"lstrip", false},
                                                                     {"normalized", false},
                                                                     {"rstrip", false},
                                                                     {"single_word", false},
                                                                     {"special", true}};
  const ojson config = {{"added_tokens_decoder", added_decoder},
                        {"bos_token", "<|begin_of_text|>"},
                        {"eos_token", "<|eot_id|>"},
                        {"chat_template", std::string(kLlama3ChatTemplate)},
                        {"clean_up_tokenization_spaces", true},
                        {"model_input_names", ojson::array({"input_ids", "attention_mask"})},
                        {"model_max_length", 131072},
                        {"tokenizer_class", "PreTrainedTokenizerFast"}};

  make_parent(out_json);
  write_file(out_json, tokenizer.dump(2) + "\n");
  const auto config_path = out_json.has_parent_path() ? out_json.parent_path() / "tokenizer_config.json"
                                                      : std::filesystem::path("tokenizer_config.json");
  write_file(config_path, config.dump(2) + "\n");
  return tokens.size() + kLlama3Specials.size();
}

}  // namespace qread::model
