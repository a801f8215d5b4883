#include "memory/phase_profile.hpp"

#include <ATen/record_function.h>
#include <torch/csrc/autograd/profiler_kineto.h>
#include <torch/version.h>

#ifdef QREAD_WITH_CUDA
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime_api.h>
#endif

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace qread::memory {
namespace {

enum class Mode { off, host, sync, gpu, ops, trace };

Mode mode() {
  static const Mode m = [] {
    const char* v = std::getenv("QREAD_PROFILE");
    if (!v || std::string_view(v).empty() || std::string_view(v) == "0") return Mode::off;
    if (std::string_view(v) == "sync") return Mode::sync;
    if (std::string_view(v) == "ops") return Mode::ops;
    if (std::string_view(v) == "trace") return Mode::trace;
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

thread_local const char* current_phase = nullptr;  // the innermost open phase (ops mode)
thread_local int op_depth = 0;                     // operators open on this thread (ops mode)

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
                 : mode() == Mode::ops ? "host time in each phase's outermost ATen operators, as 'phase | operator'"
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

// ops mode: the host time of every outermost ATen operator (those it calls are inside it), summed
// by the phase it ran in. The callbacks add their own cost, so the times are for comparing.
struct OpStart : at::ObserverContext {
  double start = 0;
  bool outermost = false;
};

void watch_operators() {
  static const bool installed = [] {
    at::addGlobalCallback(at::RecordFunctionCallback(
                              [](const at::RecordFunction&) -> std::unique_ptr<at::ObserverContext> {
                                auto context = std::make_unique<OpStart>();
                                context->outermost = op_depth++ == 0;
                                context->start = now();
                                return context;
                              },
                              [](const at::RecordFunction& fn, at::ObserverContext* context) {
                                --op_depth;
                                const auto* op = static_cast<OpStart*>(context);
                                if (!op->outermost) return;
                                const double seconds = now() - op->start;
                                std::string key = std::string(current_phase ? current_phase : "(no phase)") +
                                                  " | " + fn.name();
                                auto& t = totals();
                                std::lock_guard lock(t.mutex);
                                auto& entry = t.phases[key];
                                entry.seconds += seconds;
                                ++entry.calls;
                              })
                              .scopes({at::RecordScope::FUNCTION}));
    return true;
  }();
  (void)installed;
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

// trace mode: the device's own record of its kernels and copies (CUPTI, through the Kineto
// profiler in LibTorch), from the first phase until its thread ends. Then: how long the device was
// busy (the union of its activities over all streams) against the span of the trace, the idle
// gaps by length, and the kernels that took the most time.
namespace trace {
namespace profiler = torch::autograd::profiler;
namespace impl = torch::profiler::impl;

struct Activity {
  std::uint64_t start, end;  // ns
  std::string name;
};

void finish() {
  auto result = profiler::disableProfiler();
  std::vector<Activity> activities;
  for (const auto& e : result->events()) {
    if (e.deviceType() != c10::DeviceType::CUDA) continue;
#if TORCH_VERSION_MAJOR >= 2
    const std::uint64_t start = e.startNs(), end = start + e.durationNs();
#else
    const std::uint64_t start = 1000 * e.startUs(), end = start + 1000 * e.durationUs();
#endif
    activities.push_back({start, end, e.name()});
  }
  if (activities.empty()) {
    std::fprintf(stderr, "QREAD_PROFILE=trace: the profiler recorded no device activity\n");
    return;
  }
  std::sort(activities.begin(), activities.end(), [](const auto& a, const auto& b) { return a.start < b.start; });
  const std::uint64_t first = activities.front().start;
  std::uint64_t busy = 0, reach = first, last = first;
  const double limits_us[] = {2, 5, 10, 20, 50, 100, 1e300};
  double gap_seconds[7] = {}, gap_count[7] = {};
  std::map<std::string, std::pair<double, long>> by_name;
  for (const auto& a : activities) {
    if (a.start > reach) {
      const double gap_us = 1e-3 * double(a.start - reach);
      const int bin = int(std::find_if(std::begin(limits_us), std::end(limits_us), [&](double l) { return gap_us < l; }) -
                          std::begin(limits_us));
      gap_seconds[bin] += 1e-6 * gap_us;
      ++gap_count[bin];
    }
    if (a.end > reach) {
      busy += a.end - std::max(a.start, reach);
      reach = a.end;
    }
    last = std::max(last, a.end);
    auto& entry = by_name[a.name];  // whole names: instances of one template (flash's masks) apart
    entry.first += 1e-9 * double(a.end - a.start);
    ++entry.second;
  }
  std::fprintf(stderr, "QREAD_PROFILE=trace: %zu device activities over %.3f s; device busy %.3f s, idle %.3f s\n",
               activities.size(), 1e-9 * double(last - first), 1e-9 * double(busy), 1e-9 * double(last - first - busy));
  const char* bins[] = {"< 2 us", "2-5 us", "5-10 us", "10-20 us", "20-50 us", "50-100 us", ">= 100 us"};
  for (int i = 0; i < 7; ++i)
    std::fprintf(stderr, "  idle gaps %-9s %8.0f gaps %9.3f s\n", bins[i], gap_count[i], gap_seconds[i]);
  std::vector<std::pair<std::string, std::pair<double, long>>> sorted(by_name.begin(), by_name.end());
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.second.first > b.second.first; });
  for (std::size_t i = 0; i < std::min<std::size_t>(sorted.size(), 40); ++i)
    std::fprintf(stderr, "  %9.3f s %8ld x %7.1f us  %s\n", sorted[i].second.first, sorted[i].second.second,
                 1e6 * sorted[i].second.first / double(sorted[i].second.second), sorted[i].first.substr(0, 240).c_str());
  if (const char* path = std::getenv("QREAD_TRACE_FILE")) result->save(path);
}

// The profiler's state belongs to the thread that started it: it stops when that thread ends,
// and a thread that runs phases later starts its own.
struct StopAtThreadEnd {
  ~StopAtThreadEnd() { finish(); }
};

void start() {
  thread_local const bool started = [] {
    const impl::ProfilerConfig config(impl::ProfilerState::KINETO);
    const std::set<impl::ActivityType> activities{impl::ActivityType::CUDA};
    try {
      profiler::prepareProfiler(config, activities);
      profiler::enableProfiler(config, activities);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "QREAD_PROFILE=trace: the profiler did not start: %s\n", e.what());
      return false;
    }
    thread_local StopAtThreadEnd stop;
    (void)stop;
    return true;
  }();
  (void)started;
}
}  // namespace trace

}  // namespace

PhaseScope::PhaseScope(const char* name) : name_(name) {
  if (mode() == Mode::off) return;
  if (mode() == Mode::ops) {
    watch_operators();
    outer_ = current_phase;
    current_phase = name;
  }
  if (mode() == Mode::trace) {
    trace::start();
    return;
  }
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
  if (mode() == Mode::ops) current_phase = outer_;
  if (mode() == Mode::trace) return;
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
