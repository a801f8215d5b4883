#include "progress.hpp"

#include <fmt/core.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>

namespace qread::cli {
namespace {

std::atomic<bool> g_cancel{false};

extern "C" void on_interrupt(int) {
  g_cancel = true;
  std::signal(SIGINT, SIG_DFL);  // the next Ctrl-C is not polite
}

int terminal_columns() {
  winsize size{};
  if (ioctl(STDERR_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0) return size.ws_col;
  return 80;
}

std::string duration(double seconds) {
  const auto s = static_cast<long long>(seconds + 0.5);
  if (s >= 3600) return fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
  return fmt::format("{}:{:02}", s / 60, s % 60);
}

}  // namespace

const std::atomic<bool>& install_cancel_handler() {
  std::signal(SIGINT, on_interrupt);
  return g_cancel;
}

ProgressBar::ProgressBar(bool wanted) : shown_(wanted && isatty(STDERR_FILENO)) { started_ = Clock::now(); }

ProgressBar::~ProgressBar() { clear(); }

void ProgressBar::start(std::string label) {
  label_ = std::move(label);
  started_ = Clock::now();
  last_draw_ = {};
}

void ProgressBar::update(std::int64_t done, std::int64_t total) {
  if (!shown_ || total <= 0) return;
  const auto now = Clock::now();
  if (done < total && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  const double fraction = std::clamp(double(done) / double(total), 0.0, 1.0);
  const double seconds = std::chrono::duration<double>(now - started_).count();
  const double rate = seconds > 0 ? double(done) / seconds : 0.0;
  std::string tail = fmt::format(" {:3.0f}%", 100 * fraction);
  if (rate > 0) {
    tail += fmt::format("  {:.0f} tok/s", rate);
    if (done < total) tail += fmt::format("  {} left", duration(double(total - done) / rate));
  }
  const std::string head = label_.empty() ? "reading " : label_ + "  ";
  const int room = terminal_columns() - 1 - int(head.size() + tail.size()) - 2;
  const int width = std::clamp(room, 0, 40);
  std::string bar;
  if (width >= 10) {
    const int filled = int(fraction * width + 0.5);
    bar.assign(std::size_t(width) + 2, '.');
    bar.front() = '[';
    bar.back() = ']';
    std::fill_n(bar.begin() + 1, filled, '#');
  }
  fmt::print(stderr, "\r{}{}{}\033[K", head, bar, tail);
  std::fflush(stderr);
  drawn_ = true;
}

void ProgressBar::clear() {
  if (!drawn_) return;
  fmt::print(stderr, "\r\033[K");
  std::fflush(stderr);
  drawn_ = false;
}

}  // namespace qread::cli
