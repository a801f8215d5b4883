// Rules that turn a PDF page's words into clean text; see pdf_text.hpp.
#include "document/pdf_text.hpp"

#include <algorithm>
#include <cctype>
#include <map>
#include <optional>
#include <utility>

namespace qread::document {
namespace {

// A word's extent along its text direction (a) and across it (c), oriented so that text runs
// towards larger a and lines follow each other towards larger c, whatever the rotation.
struct Extent {
  double a0, a1, c0, c1;
  double height() const { return c1 - c0; }
  double middle() const { return (c0 + c1) / 2; }
};

Extent extent_of(const Word& w) {
  switch (w.rotation & 3) {
    case 1: return {w.y0, w.y1, -w.x1, -w.x0};  // reads downward, lines go leftward
    case 2: return {-w.x1, -w.x0, -w.y1, -w.y0};
    case 3: return {-w.y1, -w.y0, w.x0, w.x1};  // reads upward, lines go rightward
    default: return {w.x0, w.x1, w.y0, w.y1};
  }
}

// Decodes the code point that ends just before `end` (end > 0); returns it and its start.
std::pair<char32_t, std::size_t> code_point_before(std::string_view s, std::size_t end) {
  std::size_t start = end - 1;
  while (start > 0 && end - start < 4 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
  const auto lead = static_cast<unsigned char>(s[start]);
  char32_t cp = lead;
  if (lead >= 0xF0) cp = lead & 0x07;
  else if (lead >= 0xE0) cp = lead & 0x0F;
  else if (lead >= 0xC0) cp = lead & 0x1F;
  for (std::size_t i = start + 1; i < end; ++i) cp = cp << 6 | (static_cast<unsigned char>(s[i]) & 0x3F);
  return {cp, start};
}

char32_t code_point_at(std::string_view s, std::size_t pos) {
  std::size_t end = pos + 1;
  while (end < s.size() && end - pos < 4 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) ++end;
  return code_point_before(s, end).first;
}

// Letters as far as hyphenation cares: ASCII letters, and non-ASCII code points outside the
// Latin-1 symbols and the general punctuation and symbol blocks.
bool is_letter(char32_t cp) {
  if (cp < 0x80) return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z');
  if (cp < 0xC0 || cp == 0xD7 || cp == 0xF7) return false;
  if (cp >= 0x2000 && cp < 0x2C00) return false;
  if (cp >= 0x3000 && cp < 0x3040) return false;
  return true;
}

// Lowercase letters of Latin (ASCII, Latin-1), Greek and Cyrillic: enough to tell a word
// broken across lines from a line that starts a new sentence or a name.
bool is_lowercase(char32_t cp) {
  return (cp >= 'a' && cp <= 'z') || (cp >= 0xDF && cp <= 0xFF && cp != 0xF7) || (cp >= 0x3AC && cp <= 0x3CE) ||
         (cp >= 0x430 && cp <= 0x45F);
}

constexpr std::string_view kSoftHyphen = "\xC2\xAD";     // U+00AD
constexpr std::string_view kUnicodeHyphen = "\xE2\x80\x90";  // U+2010

// The non-blank lines of a page as [begin, end) byte ranges.
std::vector<std::pair<std::size_t, std::size_t>> non_blank_lines(std::string_view page) {
  std::vector<std::pair<std::size_t, std::size_t>> lines;
  for (std::size_t pos = 0; pos <= page.size();) {
    const std::size_t eol = std::min(page.find('\n', pos), page.size());
    if (page.substr(pos, eol - pos).find_first_not_of(" \t") != std::string_view::npos) lines.emplace_back(pos, eol);
    pos = eol + 1;
  }
  return lines;
}

void append_spelled_out(std::string& out, std::string_view text) {
  // Ligature code points U+FB00-FB06 are EF AC 80-86 in UTF-8; tokenizers know the letters.
  static constexpr std::string_view kLigatures[] = {"ff", "fi", "fl", "ffi", "ffl", "st", "st"};
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == 0xEF && i + 2 < text.size() && static_cast<unsigned char>(text[i + 1]) == 0xAC &&
        static_cast<unsigned char>(text[i + 2]) >= 0x80 && static_cast<unsigned char>(text[i + 2]) <= 0x86) {
      out += kLigatures[static_cast<unsigned char>(text[i + 2]) - 0x80];
      i += 2;
    } else if (c < 0x20 && c != '\n' && c != '\t') {
      // Control characters (form feeds, unmapped glyphs) mean nothing to the model.
    } else {
      out += char(c);
    }
  }
}

}  // namespace

std::string assemble_lines(const std::vector<Word>& words) {
  std::string out;
  const Word* previous = nullptr;
  Extent before{};
  for (const Word& word : words) {
    if (word.text.empty()) continue;
    const Extent now = extent_of(word);
    if (previous) {
      const double height = std::max(before.height(), now.height());
      const bool beside = (previous->rotation & 3) == (word.rotation & 3) &&
                          ((now.middle() >= before.c0 && now.middle() <= before.c1) ||
                           (before.middle() >= now.c0 && before.middle() <= now.c1)) &&
                          now.a0 >= before.a0;
      if (beside) {
        // Poppler marks the spaces it saw inside a line; words of different blocks that end up
        // side by side (table cells) are apart without being marked.
        if (previous->space_after || now.a0 - before.a1 > 0.1 * height) out += ' ';
      } else {
        const double gap = now.c0 - before.c1;
        const bool new_block = (previous->rotation & 3) != (word.rotation & 3) || gap > 0.7 * height ||
                               now.c1 < before.c0;
        out += new_block ? "\n\n" : "\n";
      }
    }
    out += word.text;
    previous = &word;
    before = now;
  }
  return out;
}

std::string running_line_key(std::string_view line) {
  std::string key;
  bool has_letter = false;
  int numbers = 0;
  bool in_space = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const auto c = static_cast<unsigned char>(line[i]);
    if (c == ' ' || c == '\t') {
      in_space = !key.empty();
      continue;
    }
    if (in_space) key += ' ', in_space = false;
    if (c >= '0' && c <= '9') {
      while (i + 1 < line.size() && line[i + 1] >= '0' && line[i + 1] <= '9') ++i;
      key += '#';
      ++numbers;
    } else {
      has_letter = has_letter || std::isalpha(c) || c >= 0x80;
      key += char(c);
    }
  }
  // Running headers are short: a title, a chapter name, a page number. Longer lines are text.
  if (key.size() > 120) return {};
  // Without letters, only a page number ("12", "- 12 -", "3 / 40"): rows of a numeric table
  // that runs over several pages look alike too, and must stay.
  if (!has_letter && (numbers == 0 || numbers > 2 || key.size() > 8)) return {};
  return key;
}

long edge_number(std::string_view line) {
  const auto first = line.find_first_not_of(" \t");
  if (first == std::string_view::npos || line.size() > 120) return -1;
  line = line.substr(first, line.find_last_not_of(" \t") - first + 1);
  // Its first or last word, when that word is a number of up to 6 digits, maybe decorated
  // ("-12-", "[12]").
  const auto is_digit = [](char c) { return c >= '0' && c <= '9'; };
  const auto is_decoration = [](char c) { return c == '-' || c == '[' || c == ']' || c == '(' || c == ')'; };
  const auto number_in = [&](std::string_view word) -> long {
    const auto begin = std::find_if(word.begin(), word.end(), is_digit);
    const auto end = std::find_if_not(begin, word.end(), is_digit);
    if (begin == word.end() || end - begin > 6) return -1;
    if (!std::all_of(word.begin(), begin, is_decoration) || !std::all_of(end, word.end(), is_decoration)) return -1;
    return std::stol(std::string(begin, end));
  };
  const auto last_space = line.rfind(' ');
  if (const long n = number_in(line.substr(0, line.find(' '))); n >= 0) return n;
  return number_in(last_space == std::string_view::npos ? line : line.substr(last_space + 1));
}

PageEdges page_edges(std::string_view page, int page_number) {
  const auto lines = non_blank_lines(page);
  const auto edge = [&](std::pair<std::size_t, std::size_t> range) {
    const std::string_view line = page.substr(range.first, range.second - range.first);
    const long number = edge_number(line);
    return EdgeLine{running_line_key(line), number >= 0 ? std::optional<long>(page_number - number) : std::nullopt};
  };
  PageEdges edges;
  const auto n = std::min<std::size_t>(kEdgeLines, lines.size());
  for (std::size_t i = 0; i < n; ++i) {
    edges.top.push_back(edge(lines[i]));
    edges.bottom.push_back(edge(lines[lines.size() - 1 - i]));
  }
  return edges;
}

namespace {

// For one edge of the pages and one way of telling lines alike (`id_of`: their key, or their
// number's offset from the page number), marks the lines with at least 2 alike at the same
// edge of pages nearby.
template <typename Id, typename IdOf>
void mark_repeated(const std::vector<PageEdges>& pages, bool top, IdOf id_of, std::vector<RunningLines>& result) {
  const auto edge_of = [&](std::size_t p) -> const std::vector<EdgeLine>& { return top ? pages[p].top : pages[p].bottom; };
  std::map<Id, std::vector<int>> where;  // the pages where an id occurs at this edge, in order
  for (std::size_t p = 0; p < pages.size(); ++p)
    for (const EdgeLine& line : edge_of(p))
      if (const std::optional<Id> id = id_of(line)) {
        auto& list = where[*id];
        if (list.empty() || list.back() != int(p)) list.push_back(int(p));
      }
  for (std::size_t p = 0; p < pages.size(); ++p) {
    const auto& lines = edge_of(p);
    for (std::size_t i = 0; i < lines.size(); ++i) {
      const std::optional<Id> id = id_of(lines[i]);
      if (!id) continue;
      const auto& list = where.at(*id);
      const auto from = std::lower_bound(list.begin(), list.end(), int(p) - kRunningWindow);
      const auto to = std::upper_bound(list.begin(), list.end(), int(p) + kRunningWindow);
      const auto others = (to - from) - 1;  // this page is in the list
      if (others >= 2) (top ? result[p].top : result[p].bottom) |= std::uint8_t(1u << i);
    }
  }
}

}  // namespace

std::vector<RunningLines> find_running_lines(const std::vector<PageEdges>& pages) {
  std::vector<RunningLines> result(pages.size());
  const auto by_key = [](const EdgeLine& line) {
    return line.key.empty() ? std::nullopt : std::optional<std::string_view>(line.key);
  };
  const auto by_number = [](const EdgeLine& line) { return line.number_offset; };
  for (const bool top : {true, false}) {
    mark_repeated<std::string_view>(pages, top, by_key, result);
    mark_repeated<long>(pages, top, by_number, result);
  }
  return result;
}

std::string dehyphenate(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) {
      out.append(text.substr(pos));
      break;
    }
    std::string_view line = text.substr(pos, eol - pos);
    std::size_t next = eol + 1;
    while (next < text.size() && (text[next] == ' ' || text[next] == '\t')) ++next;
    const bool next_has_text = next < text.size() && text[next] != '\n';
    bool join = false;
    std::size_t hyphen_length = 0;
    if (next_has_text && line.ends_with(kSoftHyphen)) {
      join = true, hyphen_length = kSoftHyphen.size();
    } else if (next_has_text && (line.ends_with('-') || line.ends_with(kUnicodeHyphen))) {
      hyphen_length = line.ends_with('-') ? 1 : kUnicodeHyphen.size();
      const std::size_t stem_end = line.size() - hyphen_length;
      join = stem_end > 0 && is_letter(code_point_before(line, stem_end).first) &&
             is_lowercase(code_point_at(text, next));
    }
    if (join) {
      out.append(line.substr(0, line.size() - hyphen_length));
      pos = next;  // the next line continues this one, without its indentation
    } else {
      out.append(line);
      out += '\n';
      pos = eol + 1;
    }
  }
  return out;
}

std::string clean_page(std::string_view page, RunningLines drop) {
  // 1. Without the running headers and footers.
  std::string kept;
  kept.reserve(page.size());
  const auto lines = non_blank_lines(page);
  std::vector<bool> dropped(lines.size(), false);
  for (std::size_t i = 0; i < std::size_t(kEdgeLines) && i < lines.size(); ++i) {
    if (drop.top & (1u << i)) dropped[i] = true;
    if (drop.bottom & (1u << i)) dropped[lines.size() - 1 - i] = true;
  }
  std::size_t from = 0;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (!dropped[i]) continue;
    kept.append(page.substr(from, lines[i].first - from));
    from = std::min(lines[i].second + 1, page.size());  // with its line end
  }
  kept.append(page.substr(from));

  // 2. Words joined across line ends; 3. ligatures and control characters.
  const std::string joined = dehyphenate(kept);
  std::string spelled;
  spelled.reserve(joined.size());
  append_spelled_out(spelled, joined);

  // 4. No trailing spaces, at most one blank line in a row, none at the ends.
  std::string out;
  out.reserve(spelled.size());
  int newlines = 0;
  for (std::size_t pos = 0; pos < spelled.size();) {
    std::size_t eol = std::min(spelled.find('\n', pos), spelled.size());
    std::string_view line = std::string_view(spelled).substr(pos, eol - pos);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
    pos = eol + 1;
    if (line.empty()) {
      ++newlines;
      continue;
    }
    if (!out.empty()) out.append(newlines >= 1 ? "\n\n" : "\n");
    out.append(line);
    newlines = 0;
  }
  return out;
}

}  // namespace qread::document
