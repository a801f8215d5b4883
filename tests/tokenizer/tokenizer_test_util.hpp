// Helpers shared by the tokenizer suites: the test corpus, random Unicode text, and tokenizers
// trained once per test binary into a temporary folder.
#pragma once

#include "common/utf8.hpp"
#include "qread/tokenizer.hpp"
#include "model/tokenizer_training.hpp"
#include "test_support.hpp"

#include <QDir>
#include <QTemporaryDir>
#include <QtTest>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

namespace qread::test {

inline std::filesystem::path source_dir() {
  const QByteArray dir = qgetenv("QREAD_SOURCE_DIR");
  return dir.isEmpty() ? std::filesystem::path(QREAD_TEST_SOURCE_DIR) : std::filesystem::path(dir.toStdString());
}

inline std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline void write_text(const std::filesystem::path& path, std::string_view text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(text.data(), std::streamsize(text.size()));
}

inline std::string corpus() { return read_text(source_dir() / "tests/tokenizer/data/corpus.txt"); }

// Random valid UTF-8 of up to `max_chars` characters drawn from many scripts and classes:
// ASCII words and punctuation, digits, whitespace runs, accents and combining marks, Greek,
// Cyrillic, CJK, Hangul, emoji (with ZWJ and skin tones), rare astral letters, apostrophes.
inline std::string random_text(std::mt19937_64& rng, std::size_t max_chars) {
  static const char32_t ranges[][2] = {
      {'a', 'z'},        {'A', 'Z'},         {'0', '9'},         {'!', '/'},         {':', '@'},
      {0xC0, 0xFF},      {0x300, 0x36F},     {0x391, 0x3C9},     {0x410, 0x44F},     {0x4E00, 0x9FFF},
      {0x3040, 0x30FF},  {0xAC00, 0xD7A3},   {0x1F300, 0x1F64F}, {0x1F680, 0x1F6FF}, {0x1D400, 0x1D7FF},
      {0x2000, 0x206F},  {0x20A0, 0x20CF},
  };
  static const char* const fragments[] = {" ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", "'s", "'t", "'RE", " the",
                                          "don't", "123", "4567", "\xE2\x80\x8D", "\xF0\x9F\x8F\xBD", ".", ",", "?"};
  std::string out;
  const std::size_t n = std::uniform_int_distribution<std::size_t>(0, max_chars)(rng);
  for (std::size_t i = 0; i < n; ++i) {
    if (std::uniform_int_distribution<int>(0, 3)(rng) == 0) {
      out += fragments[std::uniform_int_distribution<std::size_t>(0, std::size(fragments) - 1)(rng)];
      continue;
    }
    const auto& r = ranges[std::uniform_int_distribution<std::size_t>(0, std::size(ranges) - 1)(rng)];
    const char32_t cp = std::uniform_int_distribution<std::uint32_t>(r[0], r[1])(rng);
    if (cp == 0x2581) continue;  // SentencePiece's own space sign: it decodes to ' ' by design
    // Special tokens written in the text ("<s>", "</s>", "<|endoftext|>") are read as those
    // tokens, as in HF (specialTokensInText tests that): random text leaves them out.
    if (cp == '<') continue;
    append_utf8(out, cp);
  }
  return out;
}

inline bool is_valid_utf8(const std::string& s) { return qread::model::utf8_lossy(s) == s; }

}  // namespace qread::test
