// PDF documents through poppler-cpp.
//
// Reading order: poppler's page::text() in its reading-order mode (non_raw_non_physical_layout)
// orders columns and blocks well, but it also joins every line that ends in '-' with the next
// and drops the '-', whatever follows: R's "pivot <-\nattr(Q)" becomes "pivot <attr(Q)" and
// "well-\nKnown" becomes "wellKnown". raw_order_layout keeps the hyphens but trusts the order
// in which the producer happened to draw the text, and physical_layout interleaves columns
// line by line. page::text_list() gives the words in the same reading order as the first,
// with their boxes and nothing joined, so we build the lines ourselves (pdf_text.cpp) and
// de-hyphenate by our own rule. It costs about 2.5 times the CPU of page::text() (poppler
// re-parses each page's resources for it): the 2,415-page R reference manual (4.4 MB of text)
// takes 12 s of CPU to read, 14.5 s with the reopens below.
//
// Memory, measured on that manual with poppler 22.12, decides the rest. While it reads pages,
// poppler holds, per open document:
//   - the file's cross-reference table, 2.6 MB, and for the time of each text_list() call a
//     copy of it (poppler-cpp asks for one; no public call reads words without it), 2.6 MB
//     more;
//   - the page tree up to the page asked for: poppler walks it from the first page and keeps
//     every page's dictionary and resources, 6.3 MB at page 2,400 (2.6 KB a page);
//   - what it parsed for every page it has shown, annotations included: a few KB for a page
//     of text, 350 KB for a page of the index with its hundreds of links (26 MB for the 75);
//   - while a page is shown, its characters with their fonts and matrices: up to 3 MB for
//     a dense page of the table of contents.
// Touching libpoppler's code makes 2.5 MB more resident (file pages, shared with other
// processes, but counted in resident memory), and the text read so far is kept. So the peak
// cannot come down to 3 times the text with poppler in this process: a program that only
// opens the manual and reads the words of its page 2,400 peaks at 14.3 MB of growth, 3.2
// times the text. We get 4.1-4.2 times the text (18.2-18.4 MB) with one thread, where
// poppler's share peaks (in the index, at the start: see "Order" below): the code 2.5 MB, the
// table and its copy 5.2, the page tree 6.3, what the index pages shown since the last reopen
// keep (up to kReopenBudget) and the page being shown 3.5, the rest of poppler 1 (fonts,
// global tables, the heap's own overhead). It was 4.5 times reading from the first page, 12.5
// times (56 MB) with two threads before the measures below.
//
// Threads: poppler documents are not thread-safe, so each thread opens its own copy and
// takes chunks of consecutive pages (consecutive pages share fonts, which poppler caches per
// document); the calling thread only waits, reports progress and polls for cancel. A second
// copy costs what the first does: with two threads the R manual reads in 7.7 s on 2 idle
// cores instead of 14.5 s, for 7.6-7.8 times the text at the peak and 5% more CPU. Memory
// comes first: one thread unless LoadOptions::threads asks for more.
//
// Memory measures:
//   - Order: the threads take the chunks from the last page to the first. What poppler holds
//     peaks at the end of a book, where its page tree is longest (and, in the R manual, the
//     index pages keep the most), and the text stored so far grows as pages are read: read
//     from the first page, the two peaks added up at the end (20 MB, 1.8 MB of them text);
//     read from the last, poppler's peak comes before there is text, and at the first pages,
//     read last, its page tree is short. For the R manual the growth is then about as high
//     (15-18 MB) from the first page read to the last.
//   - Each thread appends its pages' text, deflated, to a TextStore of its own, outside
//     malloc's heap (see there): as strings in the heap, 4.4 MB of text kept 13 MB resident.
//   - Reopening a document frees what it kept of the pages it has shown, and we give the
//     freed memory back to the system then, so that resident memory shows what the new copy
//     gathers. A reopen costs time (poppler walks its page tree again up to the page asked
//     for: 0.2 s at page 2,400), so the copies are reopened when resident memory, less the
//     text stored so far, has grown by kReopenBudget a thread since the first page after the
//     last open, and only while reopens have taken at most kReopenTimeShare of a thread's
//     time. For the R manual: 21 reopens taking 2.5 s, 9 of them in the last 75 pages (the
//     index); without them it reads in 12.3 s, but the peak is 16 times the text. A
//     smaller budget does not pay: at 1.5 MB the peak is 0.6 MB lower for 0.5 s more, at
//     1 MB the reopens in the index use up the time they may take and the peak is 5-6 times
//     the text.
//   - Malloc's settings do not help: a fixed mmap threshold of 256 KB (the table's copy mapped
//     and unmapped for each page: 1.4 s more) with a trim threshold of 128 KB, or a single
//     arena, move the peak by 0.1-0.4 MB, about the noise between runs.
//   - The final text is built page by page from the stores, which hand their memory back as
//     it goes.
#include "document/loaders.hpp"
#include "document/pdf_text.hpp"

#include "qread/error.hpp"

#include <fmt/core.h>

#ifdef QREAD_WITH_PDF
#include <poppler-document.h>
#include <poppler-global.h>
#include <poppler-page.h>

#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <fstream>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <vector>
#endif

namespace qread::document {

#ifndef QREAD_WITH_PDF

Document load_pdf(const std::filesystem::path& path, const std::string&, const LoadOptions&) {
  throw InputError(fmt::format(
      "{}: this build of qread has no PDF support (configured with QREAD_PDF=OFF); "
      "rebuild with QREAD_PDF=ON, or convert the file to text first (e.g. with pdftotext)",
      display_name(path)));
}

#else

namespace {

constexpr int kChunkPages = 8;           // pages a thread takes at a time
// Growth of resident memory (less the text read so far) since the first page read after a
// copy was opened, past which the threads reopen their copies of the document, dropping what
// poppler kept of the pages they showed. Per thread: with more copies memory grows as many
// times faster and each round costs every thread a reopen (with 2 MB for all, two threads
// used up their reopen time in the index and peaked at 10-12 times the R manual's text).
constexpr std::size_t kReopenBudget = 2u << 20;
// A reopen costs a walk of the page tree up to the page asked for: 0.2 s at page 2,400 of the
// R manual, the time of some 35 of its pages. Memory can also grow for other reasons (other threads
// of the app, a sanitizer's quarantine) and ask for reopen after reopen; a thread reopens only
// while its reopens have taken at most this share of the time it is expected to spend reading
// pages (its reading time so far, scaled to its share of the pages), which bounds what that
// costs. Expected, not elapsed: the pages are read from the last, and the costliest reopens,
// in a long document's last pages, come first.
constexpr double kReopenTimeShare = 0.33;
constexpr int kReopenAfterPages = 1024;  // where resident memory cannot be read
constexpr int kPagesPerThread = 16;      // fewer pages than this per thread: fewer threads
constexpr auto kPollInterval = std::chrono::milliseconds(50);

// Poppler reports problems through one process-wide hook, by default printing them to stderr.
// We collect them per thread instead, to name the first one in our own error or warning.
struct PopplerMessages {
  int count = 0;
  std::string first;
};
thread_local PopplerMessages* t_messages = nullptr;

void on_poppler_message(const std::string& message, void*) {
  if (!t_messages) return;
  if (t_messages->count++ == 0) t_messages->first = message;
}

// Collects poppler's messages on this thread while it lives.
class CollectPopplerMessages {
 public:
  explicit CollectPopplerMessages(PopplerMessages& into) : previous_(t_messages) {
    static std::once_flag hooked;
    std::call_once(hooked, [] { poppler::set_debug_error_function(on_poppler_message, nullptr); });
    t_messages = &into;
  }
  ~CollectPopplerMessages() { t_messages = previous_; }
  CollectPopplerMessages(const CollectPopplerMessages&) = delete;
  CollectPopplerMessages& operator=(const CollectPopplerMessages&) = delete;

 private:
  PopplerMessages* previous_;
};

// This process's resident memory (Linux), or 0 when unknown.
std::size_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::size_t total_pages = 0, resident_pages = 0;
  if (!(statm >> total_pages >> resident_pages)) return 0;
  return resident_pages * std::size_t(sysconf(_SC_PAGESIZE));
}

// Freed memory stays with the allocator, in the threads' arenas among others, and the
// process's resident size with it (20 MB more after the R manual); hand it back to the system.
void give_freed_memory_back() {
#ifdef __GLIBC__
  malloc_trim(0);
#endif
}

// The pages' text as one thread reads them, deflated one after another. It lives in a mapping
// of its own rather than in malloc's heap: page strings there sit among poppler's short-lived
// objects and keep their memory pages resident after poppler frees them (4.4 MB of the R
// manual's page strings kept 13 MB resident, malloc_trim or not). Deflated (zlib's fastest
// level, 2.3 times smaller for that text, 60 ms for all of it), the R manual's text takes
// 1.95 MB instead of 4.4 MB. The store is a run of units, each a zlib stream of its own that
// can be read back alone from its first page, so that the loader can read the chunks in
// another order than it stored them (see read_pages); the units are read back from the last,
// and the store can hand the memory of those read back to the system as it goes.
class TextStore {
 public:
  TextStore() {
    if (deflateInit(&deflate_, Z_BEST_SPEED) != Z_OK) throw std::bad_alloc();
  }
  ~TextStore() {
    deflateEnd(&deflate_);
    if (reading_) inflateEnd(&inflate_);
    if (base_) munmap(base_, capacity_);
  }
  TextStore(const TextStore&) = delete;
  TextStore& operator=(const TextStore&) = delete;

  // Starts a unit; returns its number, for seek. Starting afresh costs some compression: with
  // units of kChunkPages pages, the R manual's text takes 1.95 MB instead of 1.83 MB.
  std::size_t begin_unit() {
    if (deflateReset(&deflate_) != Z_OK) throw std::logic_error("deflateReset: stream error");
    units_.push_back(size_);
    return units_.size() - 1;
  }

  void append(std::string_view text) {
    if (text.empty()) return;  // read back as empty without touching the stream
    deflate_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
    deflate_.avail_in = uInt(text.size());
    // A sync flush ends the page on a byte boundary, all of it in the store. deflate says it
    // has flushed everything when it leaves room in the output.
    do {
      if (capacity_ - size_ < kMinRoom) grow(size_ + std::max(kMinRoom, text.size()));
      deflate_.next_out = reinterpret_cast<Bytef*>(base_ + size_);
      deflate_.avail_out = uInt(std::min<std::size_t>(capacity_ - size_, UINT32_MAX));
      const std::size_t room = deflate_.avail_out;
      if (deflate(&deflate_, Z_SYNC_FLUSH) == Z_STREAM_ERROR) throw std::logic_error("deflate: stream error");
      size_ += room - deflate_.avail_out;
    } while (deflate_.avail_out == 0);
  }
  // Bytes the store takes now.
  std::size_t size() const { return size_; }

  // Starts reading the units back, from the last unit to the first, each from its first page
  // (seek); `release`: hand back the memory of a unit once the unit before it is sought.
  void rewind(bool release) {
    if (reading_) inflateEnd(&inflate_);
    inflate_ = {};
    if (inflateInit(&inflate_) != Z_OK) throw std::bad_alloc();
    reading_ = true;
    release_ = release;
    unit_ = kNone;
  }
  // Reads from the first page of unit `unit` (begin_unit's number).
  void seek(std::size_t unit) {
    if (inflateReset(&inflate_) != Z_OK) throw std::logic_error("inflateReset: stream error");
    if (release_ && unit_ != kNone) release_from(units_[unit_]);
    unit_ = unit;
    // Up to the unit's end only: inflate reads on past the end of a page (the mark of a sync
    // flush) and would take the next unit's header for more of this one.
    const std::size_t begin = units_[unit], end = unit + 1 < units_.size() ? units_[unit + 1] : size_;
    inflate_.next_in = reinterpret_cast<Bytef*>(base_ + begin);
    inflate_.avail_in = uInt(end - begin);  // a unit is far smaller than 4 GB
  }
  // The next page: `size` bytes of text.
  std::string read(std::size_t size) {
    std::string text(size, '\0');
    inflate_.next_out = reinterpret_cast<Bytef*>(text.data());
    inflate_.avail_out = uInt(size);
    while (inflate_.avail_out > 0) {
      const int status = inflate(&inflate_, Z_SYNC_FLUSH);
      if (status != Z_OK) throw std::logic_error(fmt::format("inflate: {}", status));
    }
    return text;
  }

 private:
  static constexpr std::size_t kMinRoom = 64u << 10;
  static constexpr std::size_t kReleaseStep = 256u << 10;
  static constexpr std::size_t kNone = SIZE_MAX;

  // Only the pages written to become resident, so the capacity can run ahead; mremap moves
  // the pages, it does not copy them.
  void grow(std::size_t needed) {
    std::size_t capacity = capacity_ ? capacity_ : std::size_t(1) << 20;
    while (capacity < needed) capacity *= 2;
    void* at = base_ ? mremap(base_, capacity_, capacity, MREMAP_MAYMOVE)
                     : mmap(nullptr, capacity, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (at == MAP_FAILED) throw std::bad_alloc();
    base_ = static_cast<char*>(at);
    capacity_ = capacity;
  }

  // Hands the memory of bytes [begin, size_) back to the system; they are not read again.
  void release_from(std::size_t begin) {
    static const std::size_t page = std::size_t(sysconf(_SC_PAGESIZE));
    const std::size_t from = (begin + page - 1) / page * page;
    const std::size_t end = std::min(released_from_, (size_ + page - 1) / page * page);
    if (end < from + kReleaseStep) return;  // a system call per few units, not per unit
    madvise(base_ + from, end - from, MADV_DONTNEED);
    released_from_ = from;
  }

  z_stream deflate_{};
  z_stream inflate_{};
  bool reading_ = false, release_ = false;
  char* base_ = nullptr;
  std::size_t capacity_ = 0, size_ = 0;
  std::vector<std::size_t> units_;     // where each unit starts, in order
  std::size_t unit_ = kNone;           // the unit being read
  std::size_t released_from_ = kNone;  // what lies past this has been handed back
};

std::string utf8(const poppler::ustring& text) {
  const poppler::byte_array bytes = text.to_utf8();
  return std::string(bytes.begin(), bytes.end());
}

// Opens the file and checks that it can be read; the errors a user can act on.
std::unique_ptr<poppler::document> open_pdf(const std::filesystem::path& path, const std::string& tail,
                                            const std::string& password) {
  const std::string name = display_name(path);
  PopplerMessages messages;
  CollectPopplerMessages collect(messages);
  // The password may be the owner's or the user's; poppler tries both.
  std::unique_ptr<poppler::document> doc(poppler::document::load_from_file(path.string(), password, password));
  const std::string detail = messages.first.empty() ? std::string() : fmt::format(" (poppler: {})", messages.first);
  if (!doc) {
    if (tail.find("%%EOF") == std::string::npos)
      throw InputError(fmt::format("{}: the PDF is truncated (it does not end with %%EOF) and cannot be read{}",
                                   name, detail));
    throw InputError(fmt::format("{}: cannot be read as a PDF: the file is damaged{}", name, detail));
  }
  if (doc->is_locked()) {
    if (password.empty())
      throw InputError(fmt::format("{}: the PDF is encrypted and needs a password", name));
    throw InputError(fmt::format("{}: the password does not open this encrypted PDF", name));
  }
  if (doc->pages() <= 0) throw InputError(fmt::format("{}: the PDF has no pages", name));
  return doc;
}

// One page's text as lines, before the cleanup that needs all pages (running headers).
std::string read_page(const poppler::page& page) {
  std::vector<Word> words;
  for (const poppler::text_box& box : page.text_list()) {
    const poppler::rectf r = box.bbox();
    words.push_back({utf8(box.text()), r.left(), r.top(), r.right(), r.bottom(), box.rotation(),
                     box.has_space_after()});
  }
  return assemble_lines(words);
}

// Where the text (assemble_lines output) of a chunk's pages is: which thread's store, and
// the unit there.
struct ChunkText {
  int store = 0;
  std::size_t unit = 0;
};

// What the threads share. Each page slot is written by one thread only.
struct Extraction {
  std::filesystem::path path;
  std::string password;
  int page_count = 0;
  std::vector<ChunkText> chunks;       // per chunk of kChunkPages pages
  std::vector<std::size_t> raw_sizes;  // per page: the size of its text
  std::vector<std::string> labels;  // per page, when it differs from the number
  std::vector<std::unique_ptr<TextStore>> stores;  // per thread

  std::atomic<int> chunks_taken{0};
  std::atomic<int> pages_done{0};
  std::atomic<std::size_t> stored_bytes{0};  // what the stores take so far
  std::atomic<int> reopen_round{0};       // incremented: every thread reopens its copy
  std::atomic<bool> stop{false};

  std::mutex mutex;  // guards the members below
  std::condition_variable changed;
  int threads_running = 0;
  std::exception_ptr error;
  PopplerMessages problems;  // poppler's complaints while reading pages, all threads
};

// What the poppler copies hold, roughly: resident memory less the text stored so far. 0 where
// resident memory cannot be read.
std::size_t poppler_bytes(const Extraction& job) {
  const std::size_t resident = resident_bytes(), text = job.stored_bytes;
  return resident > text ? resident - text : 0;
}

void read_pages(Extraction& job, int thread, std::unique_ptr<poppler::document> doc) {
  TextStore& store = *job.stores[thread];
  PopplerMessages messages;
  try {
    CollectPopplerMessages collect(messages);
    using Clock = std::chrono::steady_clock;
    const Clock::time_point started = Clock::now();
    Clock::duration reopening{};  // spent reopening so far
    const double thread_pages = double(job.page_count) / double(job.stores.size());  // expected, roughly
    int read = 0, read_since_open = 0;
    std::size_t held_at_open = 0;  // poppler_bytes after the first page read since the copy was opened
    int round = job.reopen_round;
    while (!job.stop) {
      const int taken = job.chunks_taken.fetch_add(1);
      if (taken >= int(job.chunks.size())) break;
      const int chunk = int(job.chunks.size()) - 1 - taken;  // from the last: see "Order" above
      job.chunks[chunk] = {thread, store.begin_unit()};
      const int first = chunk * kChunkPages;
      for (int index = first; index < std::min(first + kChunkPages, job.page_count) && !job.stop; ++index) {
        const Clock::time_point now = Clock::now();
        const Clock::duration reading = now - started - reopening;  // so far, scaled below to thread_pages
        const bool affordable = reopening <= std::chrono::duration_cast<Clock::duration>(
                                                 reading * (thread_pages / std::max(read, 1) * kReopenTimeShare));
        const bool reopen = doc && ((round != job.reopen_round && affordable) || read_since_open >= kReopenAfterPages);
        if (!doc || reopen) {
          if (doc) {
            doc.reset();
            give_freed_memory_back();  // so that resident memory shows what the new copy gathers
          }
          doc = open_pdf(job.path, "%%EOF", job.password);  // it opened before: no truncation to diagnose
          read_since_open = 0;
          round = job.reopen_round;
        }
        std::unique_ptr<poppler::page> page(doc->create_page(index));  // walks the page tree up to it
        if (reopen) reopening += Clock::now() - now;
        if (page) {
          const std::string text = read_page(*page);
          const std::size_t stored = store.size();
          store.append(text);
          job.raw_sizes[index] = text.size();
          job.stored_bytes += store.size() - stored;
          std::string label = utf8(page->label());
          if (label != std::to_string(index + 1)) job.labels[index] = std::move(label);
        }
        ++read;
        ++read_since_open;
        job.pages_done.fetch_add(1);

        // The first page after an open sets the mark: the copy, the page tree up to here, and
        // the passing peak of showing a page. Growth past it is what poppler kept of the pages.
        // Resident memory is the whole process's: one thread watches it for all (the others
        // have reopened too by the time its first page is read: a page takes less time than
        // a reopen).
        if (thread != 0) continue;
        const std::size_t held = poppler_bytes(job);
        if (read_since_open == 1)
          held_at_open = held;
        else if (held > held_at_open + kReopenBudget * job.stores.size() && round == job.reopen_round)
          ++job.reopen_round;
      }
    }
  } catch (...) {
    std::lock_guard lock(job.mutex);
    if (!job.error) job.error = std::current_exception();
    job.stop = true;
  }
  std::lock_guard lock(job.mutex);
  job.problems.count += messages.count;
  if (job.problems.first.empty()) job.problems.first = messages.first;
  --job.threads_running;
  job.changed.notify_all();
}

// "3, 17, 18 and 40 more"
std::string some_numbers(const std::vector<int>& numbers) {
  std::string list;
  const std::size_t shown = std::min<std::size_t>(numbers.size(), 5);
  for (std::size_t i = 0; i < shown; ++i) list += fmt::format("{}{}", i ? ", " : "", numbers[i]);
  if (numbers.size() > shown) list += fmt::format(" and {} more", numbers.size() - shown);
  return list;
}

}  // namespace

Document load_pdf(const std::filesystem::path& path, const std::string& tail, const LoadOptions& options) {
  const std::string name = display_name(path);
  if (options.cancelled && options.cancelled()) throw Cancelled();
  std::unique_ptr<poppler::document> first_doc = open_pdf(path, tail, options.password);

  Extraction job;
  job.path = path;
  job.password = options.password;
  job.page_count = first_doc->pages();
  job.chunks.resize((job.page_count + kChunkPages - 1) / kChunkPages);
  job.raw_sizes.resize(job.page_count);
  job.labels.resize(job.page_count);

  // One thread unless asked for more: see "Threads" above.
  const int wanted = std::max(options.threads, 1);
  const int thread_count =
      std::clamp(std::min(wanted, (job.page_count + kPagesPerThread - 1) / kPagesPerThread), 1, 64);
  ProgressReporter progress(options, job.page_count);
  progress.report(0);
  {
    std::vector<std::jthread> threads;
    // Declared after `threads`, so it runs first on the way out (a throw included): the
    // threads stop after their current page, then are joined.
    struct StopOnExit {
      Extraction& job;
      ~StopOnExit() { job.stop = true; }
    } stop_on_exit{job};

    job.threads_running = thread_count;
    for (int t = 0; t < thread_count; ++t) job.stores.push_back(std::make_unique<TextStore>());
    for (int t = 0; t < thread_count; ++t)
      threads.emplace_back(read_pages, std::ref(job), t, t == 0 ? std::move(first_doc) : nullptr);

    std::unique_lock lock(job.mutex);
    while (job.threads_running > 0 && !job.error) {
      job.changed.wait_for(lock, kPollInterval);
      lock.unlock();
      progress.report(job.pages_done.load());
      progress.check_cancelled();
      lock.lock();
    }
    if (job.error) std::rethrow_exception(job.error);
  }
  progress.check_cancelled();
  give_freed_memory_back();  // what the threads' poppler copies held

  // Each thread's store holds its chunks from the last, so reading the pages in order reads
  // each store's units from its last. Running headers and footers need all pages: a first
  // reading finds them (and the empty pages), the second cleans each page and appends it to
  // the text, handing the memory of the stores back as it goes.
  const auto read_raw = [&job](int i) {
    const ChunkText& chunk = job.chunks[i / kChunkPages];
    TextStore& store = *job.stores[chunk.store];
    if (i % kChunkPages == 0) store.seek(chunk.unit);
    return store.read(job.raw_sizes[i]);
  };
  std::vector<int> empty_pages;
  std::vector<PageEdges> edges;
  edges.reserve(job.page_count);
  std::size_t raw_bytes = 0;
  for (const auto& store : job.stores) store->rewind(false);
  for (int i = 0; i < job.page_count; ++i) {
    const std::string raw = read_raw(i);
    if (raw.find_first_not_of(" \n") == std::string::npos) empty_pages.push_back(i + 1);
    edges.push_back(page_edges(raw, i + 1));
    raw_bytes += raw.size() + Document::kPageSeparator.size();
  }
  const std::vector<RunningLines> running = find_running_lines(edges);
  edges = {};

  std::vector<std::string> warnings;
  if (int(empty_pages.size()) == job.page_count)
    throw InputError(fmt::format(
        "{}: the PDF has no text layer (is it a scanned document?); OCR is not supported, run an OCR tool "
        "such as ocrmypdf on it first",
        name));
  if (empty_pages.size() * 10 > std::size_t(job.page_count))
    warnings.push_back(fmt::format("{} of {} pages have no text (images only?): {}", empty_pages.size(),
                                   job.page_count, some_numbers(empty_pages)));
  if (job.problems.count > 0)
    warnings.push_back(fmt::format("poppler reported {} problem(s) while reading the pages; some text may be "
                                   "missing (first: {})",
                                   job.problems.count, job.problems.first));
  if (tail.find("%%EOF") == std::string::npos)
    warnings.push_back("the file does not end with %%EOF: it may be truncated, and pages may be missing");

  for (const auto& store : job.stores) store->rewind(true);
  std::string text;
  text.reserve(raw_bytes);
  std::vector<Page> pages;
  pages.reserve(job.page_count);
  for (int i = 0; i < job.page_count; ++i) {
    const std::string clean = clean_page(read_raw(i), running[i]);
    if (!clean.empty() && !text.empty()) text += Document::kPageSeparator;
    const std::size_t begin = text.size();
    text += clean;
    pages.push_back({i + 1, std::move(job.labels[i]), begin, text.size()});
  }
  job.stores.clear();
  give_freed_memory_back();  // the page edges and cleaned pages
  progress.report(job.page_count);
  return Document(path, DocumentKind::pdf, std::move(text), std::move(pages), {}, std::move(warnings));
}

#endif  // QREAD_WITH_PDF

}  // namespace qread::document
