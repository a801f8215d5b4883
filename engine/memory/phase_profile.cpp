#include "memory/phase_profile.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

#ifdef QREAD_WITH_CUDA
#include <c10/cuda/CUDAFunctions.h>
#endif

namespace qread::memory {
namespace {

enum class Mode { off, host, sync };

Mode mode() {
  static const Mode m = [] {
    const char* v = std::getenv("QREAD_PROFILE");
    if (!v || std::string_view(v).empty() || std::string_view(v) == "0") return Mode::off;
    return std::string_view(v) == "sync" ? Mode::sync : Mode::host;
  }();
  return m;
}

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct Totals {
  std::mutex mutex;
  std::map<std::string, std::pair<double, long>> phases;  // seconds, calls
  ~Totals() {
    if (phases.empty()) return;
    // Phases nest ("attention (all)" holds the "blocks: ..." phases, "blocks: absorb" holds
    // "absorb: ..."), so the times are not summed.
    std::fprintf(stderr, "QREAD_PROFILE (%s), time per phase (nested phases are within their parents):\n",
                 mode() == Mode::sync ? "device synchronised after each phase" : "host time");
    for (const auto& [name, t] : phases)
      std::fprintf(stderr, "  %-24s %9.3f s %8ld calls %9.1f us/call\n", name.c_str(), t.first, t.second,
                   1e6 * t.first / double(t.second));
  }
};

Totals& totals() {
  static Totals t;
  return t;
}

void synchronise() {
#ifdef QREAD_WITH_CUDA
  c10::cuda::device_synchronize();
#endif
}

}  // namespace

PhaseScope::PhaseScope(const char* name) : name_(name) {
  if (mode() == Mode::off) return;
  if (mode() == Mode::sync) synchronise();
  start_ = now();
}

PhaseScope::~PhaseScope() {
  if (mode() == Mode::off) return;
  if (mode() == Mode::sync) synchronise();
  const double seconds = now() - start_;
  auto& t = totals();
  std::lock_guard lock(t.mutex);
  auto& entry = t.phases[name_];
  entry.first += seconds;
  ++entry.second;
}

}  // namespace qread::memory
