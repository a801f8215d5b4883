// Document: the page map over one text, and load_document, which checks the file and hands
// it to the loader for its kind.
#include "qread/document.hpp"

#include "document/loaders.hpp"
#include "qread/error.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <system_error>

namespace qread {

std::string_view to_string(DocumentKind kind) {
  switch (kind) {
    case DocumentKind::pdf: return "pdf";
    case DocumentKind::text: return "text";
    case DocumentKind::markdown: return "markdown";
  }
  return "unknown";
}

std::string to_string(const PageRange& range) {
  if (range.first == range.last) return fmt::format("page {}", range.first);
  return fmt::format("pages {}-{}", range.first, range.last);
}

Document::Document(std::filesystem::path source, DocumentKind kind, std::string text, std::vector<Page> pages,
                   std::vector<Section> sections, std::vector<std::string> warnings)
    : source_(std::move(source)),
      kind_(kind),
      text_(std::move(text)),
      pages_(std::move(pages)),
      sections_(std::move(sections)),
      warnings_(std::move(warnings)) {
  // The page map's binary searches rely on these.
  std::size_t previous_end = 0;
  int previous_number = 0;
  for (const Page& page : pages_) {
    if (page.begin > page.end || page.end > text_.size() || page.begin < previous_end)
      throw std::invalid_argument(fmt::format("Document: page {} has range [{}, {}) out of order or past the text ({} bytes)",
                                              page.number, page.begin, page.end, text_.size()));
    if (page.number <= previous_number)
      throw std::invalid_argument(fmt::format("Document: page number {} after {}", page.number, previous_number));
    previous_end = page.end;
    previous_number = page.number;
  }
  for (std::size_t i = 0; i < sections_.size(); ++i)
    if (sections_[i].offset > text_.size() || (i > 0 && sections_[i].offset < sections_[i - 1].offset))
      throw std::invalid_argument("Document: sections out of order or past the text");
}

std::string_view Document::page_text(std::size_t index) const {
  const Page& page = pages_.at(index);
  return std::string_view(text_).substr(page.begin, page.end - page.begin);
}

int Document::page_of_offset(std::size_t offset) const {
  if (offset > text_.size())
    throw std::out_of_range(fmt::format("offset {} past the end of the text ({} bytes)", offset, text_.size()));
  if (pages_.empty()) return 0;
  // The last page starting at or before `offset`; then back over pages without text, which
  // sit where the page before them ends and hold no byte.
  auto it = std::upper_bound(pages_.begin(), pages_.end(), offset,
                             [](std::size_t o, const Page& page) { return o < page.begin; });
  if (it == pages_.begin()) return pages_.front().number;
  --it;
  while (it != pages_.begin() && it->begin == it->end) --it;
  return it->number;
}

PageRange Document::pages_of_range(std::size_t begin, std::size_t end) const {
  if (end < begin) throw std::invalid_argument(fmt::format("pages_of_range: end {} before begin {}", end, begin));
  if (begin == end || pages_.empty()) {
    const int page = page_of_offset(begin);
    return {page, page};
  }
  if (end > text_.size()) throw std::out_of_range(fmt::format("offset {} past the end of the text", end));
  const auto has_text = [](const Page& page) { return page.begin < page.end; };
  // First page with text ending after `begin`: it holds `begin`, or starts after it when
  // `begin` is in a gap.
  auto first = std::partition_point(pages_.begin(), pages_.end(), [&](const Page& p) { return p.end <= begin; });
  while (first != pages_.end() && !has_text(*first)) ++first;
  // Last page with text starting before `end`.
  auto last = std::partition_point(pages_.begin(), pages_.end(), [&](const Page& p) { return p.begin < end; });
  while (last != pages_.begin() && !has_text(*std::prev(last))) --last;
  if (first == pages_.end() || last == pages_.begin() || first >= last) {
    // The whole range lies in one gap.
    const int page = page_of_offset(begin);
    return {page, page};
  }
  return {first->number, std::prev(last)->number};
}

namespace document {

std::string display_name(const std::filesystem::path& path) { return path.string(); }

ProgressReporter::ProgressReporter(const LoadOptions& options, int total, std::chrono::milliseconds interval)
    : options_(options), total_(total), interval_(interval) {}

void ProgressReporter::report(int done) {
  if (!options_.progress || done == last_done_) return;
  const auto now = std::chrono::steady_clock::now();
  if (last_done_ >= 0 && done < total_ && now - last_ < interval_) return;
  last_ = now;
  last_done_ = done;
  options_.progress(done, total_);
}

void ProgressReporter::check_cancelled() const {
  if (options_.cancelled && options_.cancelled()) throw Cancelled();
}

}  // namespace document

namespace {

using document::display_name;

bool has_extension(const std::filesystem::path& path, std::initializer_list<std::string_view> extensions) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return std::find(extensions.begin(), extensions.end(), ext) != extensions.end();
}

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

// The whole file, or its last `tail_bytes` only (for PDFs, which poppler reads itself).
std::string read_bytes(const std::filesystem::path& path, std::size_t size, std::size_t tail_bytes) {
  std::unique_ptr<std::FILE, FileCloser> file(std::fopen(path.c_str(), "rb"));
  if (!file) throw InputError(fmt::format("{}: cannot open: {}", display_name(path), std::strerror(errno)));
  std::size_t want = size;
  if (tail_bytes && size > tail_bytes) {
    if (std::fseek(file.get(), long(size - tail_bytes), SEEK_SET) != 0)
      throw InputError(fmt::format("{}: cannot read: {}", display_name(path), std::strerror(errno)));
    want = tail_bytes;
  }
  std::string bytes(want, '\0');
  const std::size_t got = std::fread(bytes.data(), 1, want, file.get());
  if (std::ferror(file.get())) throw InputError(fmt::format("{}: cannot read: {}", display_name(path), std::strerror(errno)));
  bytes.resize(got);  // the file may have shrunk since stat
  return bytes;
}

// Where the %PDF- header is in the file's first 1 KiB, or npos. PDF readers accept it after a
// little junk; we do so only for files named .pdf, so that a text about PDFs stays text.
std::size_t pdf_header_offset(const std::filesystem::path& path) {
  std::unique_ptr<std::FILE, FileCloser> file(std::fopen(path.c_str(), "rb"));
  if (!file) throw InputError(fmt::format("{}: cannot open: {}", display_name(path), std::strerror(errno)));
  std::string head(1024, '\0');
  head.resize(std::fread(head.data(), 1, head.size(), file.get()));
  return head.find("%PDF-");
}

}  // namespace

Document load_document(const std::filesystem::path& path, const LoadOptions& options) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(status)) {
    const std::string why = ec && ec != std::errc::no_such_file_or_directory ? ec.message() : "no such file";
    throw InputError(fmt::format("{}: cannot open: {}", display_name(path), why));
  }
  if (std::filesystem::is_directory(status))
    throw InputError(fmt::format("{}: is a directory, not a document", display_name(path)));
  if (!std::filesystem::is_regular_file(status))
    throw InputError(fmt::format("{}: not a regular file (a device, pipe or socket?)", display_name(path)));
  const std::uintmax_t size = std::filesystem::file_size(path, ec);
  if (ec) throw InputError(fmt::format("{}: cannot read: {}", display_name(path), ec.message()));
  if (size == 0) throw InputError(fmt::format("{}: the file is empty", display_name(path)));

  const bool pdf_name = has_extension(path, {".pdf"});
  const std::size_t header = pdf_header_offset(path);
  if (header == 0 || (pdf_name && header != std::string::npos))
    return document::load_pdf(path, read_bytes(path, size, 1024), options);
  if (pdf_name)
    throw InputError(fmt::format("{}: not a PDF file (no %PDF- header at its start); is it damaged or misnamed?",
                                 display_name(path)));
  const DocumentKind kind =
      has_extension(path, {".md", ".markdown", ".mdown", ".mkd"}) ? DocumentKind::markdown : DocumentKind::text;
  return document::load_text(path, read_bytes(path, size, 0), kind, options);
}

}  // namespace qread
