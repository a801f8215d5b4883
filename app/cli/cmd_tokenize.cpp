// qread tokenize: text to token ids with a model folder's tokenizer, or ids back to text.
//   qread tokenize --model DIR --text "Hello"            -> 9906 15
//   qread tokenize --model DIR --input FILE --lines      -> one JSON array of ids per line
//   qread tokenize --model DIR --decode --text "9906 15" -> Hello
// `--lines` output is what tools/compare/tokenizers_vs_hf.py compares with HF `tokenizers`.
#include "command.hpp"
#include "qread/error.hpp"
#include "qread/tokenizer.hpp"

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

namespace {

namespace tok = qread::model;

struct TokenizeArgs {
  std::string model_dir, text, input;
  bool lines = false, json = false, decode = false, add_bos = false, skip_special = false;
};

std::string read_input(const std::string& path) {
  if (path == "-") return {std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>()};
  std::ifstream in(path, std::ios::binary);
  if (!in) throw qread::InputError(fmt::format("{}: cannot open", path));
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Lines split on '\n' only (a '\r' stays in its line); no empty line after a final '\n'.
std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    const auto end = text.find('\n', start);
    if (end == std::string_view::npos) {
      lines.push_back(text.substr(start));
      break;
    }
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

// "[1, 2, 3]", "1 2 3" or "1,2,3" -> ids, each checked against the vocabulary.
std::vector<tok::TokenId> parse_ids(std::string_view text, const tok::Tokenizer& tokenizer) {
  std::vector<tok::TokenId> ids;
  std::string word;
  auto flush = [&] {
    if (word.empty()) return;
    std::size_t used = 0;
    long long value = 0;
    try {
      value = std::stoll(word, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != word.size()) throw qread::InputError(fmt::format("--decode: '{}' is not a token id", word));
    if (value < 0 || std::size_t(value) >= tokenizer.vocab_size())
      throw qread::InputError(fmt::format("--decode: id {} is outside the vocabulary (0..{})", value, tokenizer.vocab_size() - 1));
    ids.push_back(tok::TokenId(value));
    word.clear();
  };
  for (char c : text) {
    if (c == '[' || c == ']' || c == ',' || c == ' ' || c == '\t' || c == '\r' || c == '\n')
      flush();
    else
      word += c;
  }
  flush();
  return ids;
}

std::string ids_line(const std::vector<tok::TokenId>& ids) {
  std::string out;
  for (std::size_t i = 0; i < ids.size(); ++i) out += (i ? " " : "") + std::to_string(ids[i]);
  return out;
}

qread::cli::Runner setup_tokenize(CLI::App& app) {
  auto* cmd = app.add_subcommand("tokenize", "Turn text into token ids with a model's tokenizer (or ids back into text)");
  auto a = std::make_shared<TokenizeArgs>();
  cmd->add_option("--model", a->model_dir, "Model folder (tokenizer.json or tokenizer.model)")->required();
  auto* text = cmd->add_option("--text", a->text, "The text (with --decode: the ids)");
  auto* input = cmd->add_option("--input", a->input, "Read the text (or ids) from this file; - for stdin");
  text->excludes(input);
  cmd->add_flag("--lines", a->lines, "Each input line on its own: one JSON array of ids (or one text) per line");
  cmd->add_flag("--json", a->json, "JSON output");
  cmd->add_flag("--decode", a->decode, "The input is token ids (\"1 2 3\" or [1, 2, 3]); print the text");
  cmd->add_flag("--add-bos", a->add_bos, "Put the BOS the model expects first (as HF add_special_tokens=True)");
  cmd->add_flag("--skip-special", a->skip_special, "With --decode: leave out special tokens");
  return [a, text, input] {
    if (text->count() == 0 && input->count() == 0) throw qread::InputError("tokenize: give --text TEXT or --input FILE");
    const std::string content = a->input.empty() ? a->text : read_input(a->input);
    const auto tokenizer = tok::load_tokenizer(a->model_dir);

    if (a->decode) {
      auto decode = [&](std::string_view ids_text) {
        return tokenizer->decode(parse_ids(ids_text, *tokenizer), a->skip_special);
      };
      if (a->lines) {
        for (auto line : split_lines(content)) {
          const std::string out = decode(line);
          std::cout << (a->json ? nlohmann::json(out).dump() : out) << '\n';
        }
      } else {
        const std::string out = decode(content);
        if (a->json)
          std::cout << nlohmann::json{{"text", out}}.dump() << '\n';
        else
          std::cout << out << '\n';
      }
      return qread::cli::kExitOk;
    }

    if (a->lines) {
      // One JSON array per line, always: this is the format the comparison scripts read.
      std::string out;
      for (auto line : split_lines(content)) out += nlohmann::json(tokenizer->encode(line, a->add_bos)).dump() + '\n';
      std::cout << out;
    } else {
      const auto ids = tokenizer->encode(content, a->add_bos);
      if (a->json)
        std::cout << nlohmann::json{{"tokenizer", std::string(tokenizer->kind())}, {"count", ids.size()}, {"ids", ids}}.dump() << '\n';
      else
        std::cout << ids_line(ids) << '\n';
    }
    return qread::cli::kExitOk;
  };
}

}  // namespace

QREAD_CLI_COMMAND("tokenize", setup_tokenize);
