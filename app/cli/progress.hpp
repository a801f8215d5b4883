// What long commands (ask, compare, eval, bench) show while they work, and how Ctrl-C stops
// them. The bar goes to stderr and only when stderr is a terminal: scripts and pipes see none.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

namespace qread::cli {

// Ctrl-C sets the returned flag (the engine polls it after every layer and every answer token,
// so work stops within about a second); a second Ctrl-C ends the process at once.
const std::atomic<bool>& install_cancel_handler();

// One line on stderr: "qllm 2/6  [########......]  42%  1234 tok/s  0:12 left".
class ProgressBar {
 public:
  // Shown only when `wanted` and stderr is a terminal.
  explicit ProgressBar(bool wanted = true);
  ~ProgressBar();
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  bool shown() const { return shown_; }
  // A new piece of work: its label, and the clock restarts.
  void start(std::string label);
  // Reading progress of the current piece: tokens done of total. Redraws at most ten times a
  // second, and always at the end.
  void update(std::int64_t done, std::int64_t total);
  // Erases the line (before other output goes to the terminal).
  void clear();

 private:
  using Clock = std::chrono::steady_clock;
  bool shown_ = false, drawn_ = false;
  std::string label_;
  Clock::time_point started_{}, last_draw_{};
};

}  // namespace qread::cli
