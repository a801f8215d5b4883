// Documents: what the model reads. A PDF, plain-text or Markdown file becomes one UTF-8 text
// plus a page map, so that any span of it (a memory block, a retrieved passage) can be shown
// as "pages 212-213" together with its text.
//
// Pages:
//   PDF       one Page per page of the file; `number` is the page's position in the file
//             (1 = first page, what a viewer's "go to page" takes), `label` the printed page
//             label when the file defines a different one ("iv", "2374").
//   text, Markdown  the file has no pages, so its text is cut into pages of about
//             LoadOptions::text_page_chars characters at paragraph (else line) boundaries.
//             They are positions for the UI and the hit map, not pages of a printed book.
//
// Text: the pages' texts in order. PDF pages are separated by kPageSeparator (a blank line),
// which belongs to no page; text and Markdown pages are cut from the file's text as it is
// (line endings normalised to \n), so a blank line between two of them belongs to neither.
//
// All offsets are byte offsets into Document::text().
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace qread {

enum class DocumentKind { pdf, text, markdown };

// "pdf", "text", "markdown".
std::string_view to_string(DocumentKind kind);

struct Page {
  int number = 0;         // 1-based, increasing
  std::string label;      // PDF page label when it differs from `number`, else empty
  std::size_t begin = 0;  // [begin, end): this page's text in Document::text()
  std::size_t end = 0;    // begin == end: a page without text (a blank or image-only page)
};

// A Markdown heading (ATX "## Title" or setext "Title\n-----"), marking where a section
// starts. PDF and plain-text documents have none.
struct Section {
  int level = 1;            // 1 for "#", 2 for "##", ...
  std::string title;        // the heading's text, without the # marks
  std::size_t offset = 0;   // where the heading line starts in Document::text()
};

// Inclusive range of page numbers. {0, 0} only for a document without pages.
struct PageRange {
  int first = 0;
  int last = 0;
  bool operator==(const PageRange&) const = default;
};

// "page 7" or "pages 212-213".
std::string to_string(const PageRange& range);

class Document {
 public:
  static constexpr std::string_view kPageSeparator = "\n\n";

  Document() = default;
  // Checks that pages are in order, inside `text` and numbered increasingly; throws
  // std::invalid_argument otherwise. Sections must be in order of their offsets.
  Document(std::filesystem::path source, DocumentKind kind, std::string text, std::vector<Page> pages,
           std::vector<Section> sections = {}, std::vector<std::string> warnings = {});

  const std::filesystem::path& source() const { return source_; }
  DocumentKind kind() const { return kind_; }
  const std::string& text() const { return text_; }
  const std::vector<Page>& pages() const { return pages_; }
  const std::vector<Section>& sections() const { return sections_; }
  // Things the user should know but that did not stop loading, e.g. "not valid UTF-8, read as
  // Windows-1252", "12 pages have no text".
  const std::vector<std::string>& warnings() const { return warnings_; }

  std::string_view page_text(std::size_t index) const;

  // The number of the page whose text holds byte `offset`. An offset in the gap between two
  // pages (a separator) belongs to the page before; offset == text().size() to the last page
  // with text. Binary search over the page starts. Throws std::out_of_range past the end;
  // returns 0 for a document without pages.
  int page_of_offset(std::size_t offset) const;

  // The pages that the bytes [begin, end) touch. Gap bytes at either end are not counted, so
  // a span starting on a separator begins on the next page. An empty range gives the page
  // of `begin`.
  PageRange pages_of_range(std::size_t begin, std::size_t end) const;

 private:
  std::filesystem::path source_;
  DocumentKind kind_ = DocumentKind::text;
  std::string text_;
  std::vector<Page> pages_;
  std::vector<Section> sections_;
  std::vector<std::string> warnings_;
};

struct LoadOptions {
  // Called on the thread that called load_document, with the pages read so far: at the start
  // (PDF only), at most every 100 ms, and at the end (pages_done == pages_total).
  std::function<void(int pages_done, int pages_total)> progress;
  // Polled between pages (at least every 50 ms while a PDF is read); returning true stops the
  // load with qread::Cancelled within about one page's time.
  std::function<bool()> cancelled;
  // User password of an encrypted PDF.
  std::string password;
  // Threads reading PDF pages; 0: one. Each opens its own copy of the file (poppler documents
  // are not thread-safe), which costs as much memory again: two threads read the R reference
  // manual in 9.5 s instead of 15 s on two cores, at a peak of 7.6-11 times the text instead
  // of 4.5 (see pdf_loader.cpp).
  int threads = 0;
  // Target page size for text and Markdown files, in characters (code points).
  std::size_t text_page_chars = 3000;
};

// Loads a PDF (a file that starts with %PDF-, or a .pdf file with that header in its first
// KiB), Markdown (.md, .markdown) or plain text file (anything else). Throws qread::InputError naming the file and the problem for bad
// input (missing, unreadable, empty, binary, encrypted without the password, damaged,
// truncated, no pages, no text layer) and qread::Cancelled when options.cancelled says so.
Document load_document(const std::filesystem::path& path, const LoadOptions& options = {});

}  // namespace qread
