// What the engine runs on: versions, compute devices, threads. Plain C++ types only: this
// header is part of the engine's public interface, used by the UI and the CLI.
#pragma once

#include <string>
#include <vector>

namespace qread {

struct GpuInfo {
  int index = 0;
  std::string name;
  long long total_memory_bytes = 0;
};

struct RuntimeInfo {
  std::string qread_version;
  std::string torch_version;   // LibTorch the engine was built against, e.g. "1.13.0"
  bool built_with_cuda = false;  // the engine's own CUDA kernels are compiled in
  bool cuda_available = false;   // LibTorch sees at least one usable CUDA device
  std::vector<GpuInfo> gpus;
  int intra_op_threads = 0;  // LibTorch's CPU thread pool size after init_runtime()
  int cpu_cores = 0;         // cores this process may run on (affinity mask)
};

// Call once at start-up, before any tensor work: sets LibTorch's intra-op thread pool to
// the cores this process may use (Debian's LibTorch starts with 1 on small machines).
// Idempotent and thread-safe.
void init_runtime();

// Cores available to this process, honouring its CPU affinity mask.
int available_cpu_cores();

RuntimeInfo runtime_info();

struct MemoryUsage {
  long long host_rss_bytes = 0;        // resident set now
  long long host_peak_bytes = 0;       // high-water mark since start or reset_peak_memory()
  long long host_total_bytes = 0;      // the machine's MemTotal (0 where /proc/meminfo lacks it)
  long long host_available_bytes = 0;  // MemAvailable now: what the system can give without swapping
  long long gpu_allocated_bytes = 0;   // LibTorch's CUDA allocator on that device; 0 without CUDA
  long long gpu_peak_bytes = 0;        // its high-water mark since start or reset_peak_memory()
  long long gpu_reserved_bytes = 0;    // held by the caching allocator
};

// The GPU figures are those of CUDA device `cuda_device`.
MemoryUsage memory_usage(int cuda_device = 0);
// Restarts both high-water marks (host through /proc/self/clear_refs where allowed).
void reset_peak_memory();

}  // namespace qread
