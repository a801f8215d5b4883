// Plain text and Markdown: decoding the file's bytes to UTF-8, cutting the text into pages,
// finding Markdown headings. Pure functions on strings, so the tests can drive them directly.
#pragma once

#include "qread/document.hpp"

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace qread::document {

struct DecodedText {
  std::string text;     // UTF-8, line endings \n
  std::string warning;  // non-empty when the bytes were not UTF-8 and were read another way
};

// UTF-8 (a byte-order mark is dropped) is taken as it is; UTF-16 with a byte-order mark is
// converted; anything else that is not valid UTF-8 is read as Windows-1252, the superset of
// Latin-1 that "Latin-1" files nearly always are, with a warning. Bytes with NUL in them are
// binary (or UTF-16 without a mark): InputError naming `name`. CR LF and lone CR become \n,
// form feeds \n.
DecodedText decode_text(std::string bytes, std::string_view name);

// Offset of the first byte that is not part of valid UTF-8, or npos.
std::size_t find_invalid_utf8(std::string_view bytes);

// Cuts `text` into pages of at most `target_chars` code points, each cut at the last blank
// line in the second half of the page, else the last line end, else the last space, else
// anywhere between two code points. Pages are [begin, end) byte ranges; the line ends (and
// the space) at a cut belong to no page. Text that is whitespace only has no pages.
std::vector<std::pair<std::size_t, std::size_t>> split_into_pages(std::string_view text, std::size_t target_chars);

// ATX ("## Title") and setext ("Title" over "=====" or "-----") headings, outside fenced
// code blocks, in order.
std::vector<Section> markdown_sections(std::string_view text);

}  // namespace qread::document
