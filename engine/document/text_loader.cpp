// Plain text and Markdown documents: the decoded text as it is, cut into pages of about 3,000
// characters so that the UI can still show where a passage is, and for Markdown the headings
// as section marks.
#include "document/loaders.hpp"
#include "document/text_layout.hpp"

#include "qread/error.hpp"

#include <fmt/core.h>

#include <algorithm>

namespace qread::document {
namespace {

bool is_continuation_byte(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// The byte offset `chars` code points after `from`, or text.size().
std::size_t advance_chars(std::string_view text, std::size_t from, std::size_t chars) {
  std::size_t i = from;
  while (i < text.size() && chars > 0) {
    ++i;
    while (i < text.size() && is_continuation_byte(text[i])) ++i;
    --chars;
  }
  return i;
}

bool is_blank(std::string_view line) {
  return line.find_first_not_of(" \t") == std::string_view::npos;
}

std::string_view trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(" \t");
  return s.substr(first, last - first + 1);
}

// Leading spaces of a Markdown line; 4 or more make it indented code, never a heading.
std::size_t indent_of(std::string_view line) {
  std::size_t n = 0;
  while (n < line.size() && line[n] == ' ') ++n;
  return n;
}

// "```" or "~~~" (3 or more) opens or closes a fenced code block; returns the fence, or {}.
std::string_view fence_of(std::string_view line) {
  if (indent_of(line) > 3) return {};
  line.remove_prefix(indent_of(line));
  if (line.empty() || (line[0] != '`' && line[0] != '~')) return {};
  std::size_t n = 0;
  while (n < line.size() && line[n] == line[0]) ++n;
  return n >= 3 ? line.substr(0, n) : std::string_view{};
}

// "## Title ##" -> {2, "Title"}; level 0 when the line is not an ATX heading.
std::pair<int, std::string_view> atx_heading(std::string_view line) {
  if (indent_of(line) > 3) return {0, {}};
  line.remove_prefix(indent_of(line));
  std::size_t level = 0;
  while (level < line.size() && line[level] == '#') ++level;
  if (level == 0 || level > 6) return {0, {}};
  if (level < line.size() && line[level] != ' ' && line[level] != '\t') return {0, {}};  // "#hashtag"
  std::string_view title = trim(line.substr(level));
  // An optional closing run of #, preceded by a space (or making up the whole title).
  const auto hashes = title.find_last_not_of('#');
  if (hashes == std::string_view::npos)
    title = {};
  else if (hashes + 1 < title.size() && (title[hashes] == ' ' || title[hashes] == '\t'))
    title = trim(title.substr(0, hashes));
  return {int(level), title};
}

// A setext underline: "===" (level 1) or "---" (level 2), nothing else on the line.
int setext_level(std::string_view line) {
  if (indent_of(line) > 3) return 0;
  line = trim(line);
  if (line.empty() || (line[0] != '=' && line[0] != '-')) return 0;
  if (line.find_first_not_of(line[0]) != std::string_view::npos) return 0;
  return line[0] == '=' ? 1 : 2;
}

}  // namespace

std::vector<std::pair<std::size_t, std::size_t>> split_into_pages(std::string_view text, std::size_t target_chars) {
  target_chars = std::max<std::size_t>(target_chars, 16);
  std::vector<std::pair<std::size_t, std::size_t>> pages;
  std::size_t pos = 0;
  while (true) {
    while (pos < text.size() && text[pos] == '\n') ++pos;  // the gap before a page
    if (pos >= text.size()) break;
    const std::size_t limit = advance_chars(text, pos, target_chars);
    std::size_t cut = limit;   // where this page ends
    std::size_t next = limit;  // where the gap after it ends at the latest
    if (limit < text.size()) {
      // The cut must leave at least half a page, so that pages stay about the same size.
      const std::size_t low = advance_chars(text, pos, target_chars / 2);
      const std::string_view window = text.substr(low, limit - low + 1);  // a cut at `limit` is fine
      if (const auto blank = window.rfind("\n\n"); blank != std::string_view::npos) {
        cut = next = low + blank;
      } else if (const auto eol = window.rfind('\n'); eol != std::string_view::npos) {
        cut = next = low + eol;
      } else if (const auto space = window.rfind(' '); space != std::string_view::npos) {
        cut = low + space;  // a very long line: cut at a space, which goes to no page
        next = cut + 1;
      }
    } else {
      cut = next = text.size();
    }
    // A page does not end with the line ends of the blank line it was cut at.
    std::size_t end = cut;
    while (end > pos && (text[end - 1] == '\n' || text[end - 1] == ' ')) --end;
    if (end > pos) pages.emplace_back(pos, end);
    pos = next;
  }
  return pages;
}

std::vector<Section> markdown_sections(std::string_view text) {
  std::vector<Section> sections;
  std::string_view open_fence;  // non-empty inside a fenced code block
  std::string_view previous;    // the line before, when it could be a setext heading's text
  std::size_t previous_offset = 0;
  for (std::size_t pos = 0; pos < text.size();) {
    const std::size_t eol = std::min(text.find('\n', pos), text.size());
    const std::string_view line = text.substr(pos, eol - pos);
    const std::size_t offset = pos;
    pos = eol + 1;

    const std::string_view fence = fence_of(line);
    if (!open_fence.empty()) {
      // Closed by a fence of the same character, at least as long, with nothing after it.
      if (!fence.empty() && fence[0] == open_fence[0] && fence.size() >= open_fence.size() &&
          is_blank(trim(line).substr(fence.size())))
        open_fence = {};
      previous = {};
      continue;
    }
    if (!fence.empty()) {
      open_fence = fence;
      previous = {};
      continue;
    }
    if (const auto [level, title] = atx_heading(line); level > 0) {
      if (!title.empty()) sections.push_back({level, std::string(title), offset});
      previous = {};
      continue;
    }
    if (const int level = setext_level(line); level > 0 && !previous.empty()) {
      sections.push_back({level, std::string(trim(previous)), previous_offset});
      previous = {};
      continue;
    }
    if (is_blank(line) || indent_of(line) > 3) {
      previous = {};
    } else {
      previous = line;
      previous_offset = offset;
    }
  }
  return sections;
}

Document load_text(const std::filesystem::path& path, std::string bytes, DocumentKind kind,
                   const LoadOptions& options) {
  const std::string name = display_name(path);
  if (options.cancelled && options.cancelled()) throw Cancelled();
  DecodedText decoded = decode_text(std::move(bytes), name);
  if (decoded.text.find_first_not_of(" \t\n") == std::string::npos)
    throw InputError(fmt::format("{}: contains no text (only white space)", name));

  const auto ranges = split_into_pages(decoded.text, options.text_page_chars);
  std::vector<Page> pages;
  pages.reserve(ranges.size());
  for (const auto& [begin, end] : ranges) pages.push_back({int(pages.size()) + 1, {}, begin, end});

  std::vector<Section> sections;
  if (kind == DocumentKind::markdown) sections = markdown_sections(decoded.text);
  std::vector<std::string> warnings;
  if (!decoded.warning.empty()) warnings.push_back(std::move(decoded.warning));

  // Text files are read in one go; report them as done, in "pages", like a PDF.
  ProgressReporter progress(options, int(pages.size()));
  progress.check_cancelled();
  progress.report(int(pages.size()));
  return Document(path, kind, std::move(decoded.text), std::move(pages), std::move(sections), std::move(warnings));
}

}  // namespace qread::document
