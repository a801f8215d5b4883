// The loaders behind load_document, one per kind of file. load_document has already checked
// that the path is a readable, non-empty regular file and picked the kind.
#pragma once

#include "qread/document.hpp"

#include <chrono>
#include <filesystem>
#include <string>

namespace qread::document {

// `bytes` is the whole file.
Document load_text(const std::filesystem::path& path, std::string bytes, DocumentKind kind,
                   const LoadOptions& options);

// Opens the file itself (poppler reads it lazily, page by page); `tail` is the file's last
// bytes, to tell a truncated file from a damaged one. Without PDF support in this build it
// throws InputError saying so.
Document load_pdf(const std::filesystem::path& path, const std::string& tail, const LoadOptions& options);

// How messages name a file: its path as given.
std::string display_name(const std::filesystem::path& path);

// Calls LoadOptions::progress at most every `interval`, and always for the first and the
// last report, so that a UI is not flooded with one event per page.
class ProgressReporter {
 public:
  ProgressReporter(const LoadOptions& options, int total,
                   std::chrono::milliseconds interval = std::chrono::milliseconds(100));
  void report(int done);
  // Throws Cancelled when LoadOptions::cancelled says so.
  void check_cancelled() const;

 private:
  const LoadOptions& options_;
  int total_;
  std::chrono::milliseconds interval_;
  std::chrono::steady_clock::time_point last_{};
  int last_done_ = -1;
};

}  // namespace qread::document
