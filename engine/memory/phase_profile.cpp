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
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime_api.h>
#endif

#include <vector>

namespace qread::memory {
namespace {

enum class Mode { off, host, sync, gpu };

Mode mode() {
  static const Mode m = [] {
    const char* v = std::getenv("QREAD_PROFILE");
    if (!v || std::string_view(v).empty() || std::string_view(v) == "0") return Mode::off;
    if (std::string_view(v) == "sync") return Mode::sync;
#ifdef QREAD_WITH_CUDA
    if (std::string_view(v) == "gpu") return Mode::gpu;
#endif
    return Mode::host;
  }();
  return m;
}

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct Totals {
  std::mutex mutex;
  struct Phase {
    double seconds = 0, host_seconds = 0;  // gpu mode: device time, and the host's time beside it
    long calls = 0;
  };
  std::map<std::string, Phase> phases;
#ifdef QREAD_WITH_CUDA
  struct Span {
    const char* name;
    cudaEvent_t begin, end;
    double host_seconds;
  };
  std::vector<Span> spans;  // gpu mode: recorded, not yet summed
  // Waits for the last span's end, then adds every span's device time. Called with the lock held.
  void sum_spans() {
    if (spans.empty()) return;
    cudaEventSynchronize(spans.back().end);
    for (const auto& span : spans) {
      float ms = 0;
      if (cudaEventElapsedTime(&ms, span.begin, span.end) == cudaSuccess) {
        auto& entry = phases[span.name];
        entry.seconds += 1e-3 * ms;
        entry.host_seconds += span.host_seconds;
        ++entry.calls;
      }
      cudaEventDestroy(span.begin);
      cudaEventDestroy(span.end);
    }
    spans.clear();
  }
#endif
  ~Totals() {
#ifdef QREAD_WITH_CUDA
    sum_spans();
#endif
    if (phases.empty()) return;
    // Phases nest ("attention (all)" holds the "blocks: ..." phases, "blocks: absorb" holds
    // "absorb: ..."), so the times are not summed.
    std::fprintf(stderr, "QREAD_PROFILE (%s), time per phase (nested phases are within their parents):\n",
                 mode() == Mode::sync  ? "device synchronised after each phase"
                 : mode() == Mode::gpu ? "device time between events at the phases' ends; then the host's time"
                                       : "host time");
    for (const auto& [name, t] : phases) {
      std::fprintf(stderr, "  %-24s %9.3f s %8ld calls %9.1f us/call", name.c_str(), t.seconds, t.calls,
                   1e6 * t.seconds / double(t.calls));
      // A phase with little device work whose device time is about its host time most likely
      // kept the device waiting for the host.
      if (mode() == Mode::gpu) std::fprintf(stderr, "   host %9.1f us/call", 1e6 * t.host_seconds / double(t.calls));
      std::fputc('\n', stderr);
    }
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

#ifdef QREAD_WITH_CUDA
cudaEvent_t record_event() {
  cudaEvent_t event = nullptr;
  cudaEventCreate(&event);
  cudaEventRecord(event, c10::cuda::getCurrentCUDAStream().stream());
  return event;
}
#endif

}  // namespace

PhaseScope::PhaseScope(const char* name) : name_(name) {
  if (mode() == Mode::off) return;
#ifdef QREAD_WITH_CUDA
  if (mode() == Mode::gpu) {
    begin_event_ = record_event();
    start_ = now();  // the host time leaves out the profile's own event calls
    return;
  }
#endif
  if (mode() == Mode::sync) synchronise();
  start_ = now();
}

PhaseScope::~PhaseScope() {
  if (mode() == Mode::off) return;
#ifdef QREAD_WITH_CUDA
  if (mode() == Mode::gpu) {
    const double host_seconds = now() - start_;
    auto& t = totals();
    std::lock_guard lock(t.mutex);
    t.spans.push_back({name_, static_cast<cudaEvent_t>(begin_event_), record_event(), host_seconds});
    if (t.spans.size() >= 20000) t.sum_spans();  // bounded: events are device resources
    return;
  }
#endif
  if (mode() == Mode::sync) synchronise();
  const double seconds = now() - start_;
  auto& t = totals();
  std::lock_guard lock(t.mutex);
  auto& entry = t.phases[name_];
  entry.seconds += seconds;
  ++entry.calls;
}

}  // namespace qread::memory
