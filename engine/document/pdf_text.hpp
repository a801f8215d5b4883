// From the words poppler finds on a PDF page to the text the model reads: words to lines,
// running headers and footers dropped, words hyphenated across line ends joined. Pure
// functions on plain types (no poppler), so the tests can drive each rule directly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace qread::document {

// One word of a page, in poppler's reading order. Coordinates in points, y downward.
struct Word {
  std::string text;  // UTF-8
  double x0 = 0, y0 = 0, x1 = 0, y1 = 0;
  int rotation = 0;  // 0..3: quarter turns clockwise of the text direction
  bool space_after = false;
};

// Words to lines: a word continues the line when it sits beside the word before (its middle
// within that word's height, not to the left of it); a new line starts otherwise, after a
// blank line when it is well below the line before or above it (a new block or column). Line
// ends keep their hyphens; see dehyphenate.
std::string assemble_lines(const std::vector<Word>& words);

// Lines at the edges of a page that could be running headers or footers, reduced to a key:
// white space collapsed and digit runs replaced by '#' ("Page 12 of 300" -> "Page # of #").
// Empty when the line cannot be one: long like a sentence, or without letters and more than
// a page number (a row of a numeric table).
std::string running_line_key(std::string_view line);

// The number a short line starts or ends with ("callCC 69", "70 CallExternal", "- 12 -"):
// the printed page number of a header or footer whose words change from page to page. -1
// when there is none.
long edge_number(std::string_view line);

// How many non-blank lines at the top and at the bottom of a page are looked at.
constexpr int kEdgeLines = 2;

struct EdgeLine {
  std::string key;          // running_line_key
  std::optional<long> number_offset;  // the page's number minus edge_number, when there is one
};

struct PageEdges {
  std::vector<EdgeLine> top;     // the first non-blank lines, top down
  std::vector<EdgeLine> bottom;  // the last non-blank lines, bottom up
};
// `page_number`: the page's position in the document, 1-based.
PageEdges page_edges(std::string_view page, int page_number);

// Which edge lines of each page are running headers or footers: bit i of `top` is the i-th
// non-blank line from the top, bit i of `bottom` the i-th from the bottom.
struct RunningLines {
  std::uint8_t top = 0;
  std::uint8_t bottom = 0;
};

// A line at the top (bottom) of a page repeats when at least 2 other pages within
// kRunningWindow pages of it have, at the same edge, a line with the same key, or a line
// whose number is as far from their page number ("69" on page 100, "70" on page 101: the
// printed page numbers, whatever words come with them). Local, not document-wide, so that
// running chapter titles go too, and even/odd page headers (every other page) count.
constexpr int kRunningWindow = 4;
std::vector<RunningLines> find_running_lines(const std::vector<PageEdges>& pages);

// "exam-\nple" -> "example" when the next line starts with a lowercase letter and the hyphen
// follows a letter (so "x <-\nfoo", "well-\nKnown" and "COVID-\n19" stay); a soft hyphen
// (U+00AD) at a line end always joins.
std::string dehyphenate(std::string_view text);

// One page's final text: `drop` lines removed, hyphenated words joined, ligatures (U+FB00-FB06)
// spelled out, control characters dropped, trailing spaces and runs of blank lines trimmed.
std::string clean_page(std::string_view page, RunningLines drop);

}  // namespace qread::document
