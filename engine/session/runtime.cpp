#include "qread/runtime.hpp"

#include "common/torch_compat.hpp"
#include "qread/version.hpp"

#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <sched.h>

#include <algorithm>
#include <mutex>
#include <thread>

#include <fstream>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

#ifdef QREAD_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#include <cuda_runtime.h>
#endif

namespace qread {

int available_cpu_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

void init_runtime() {
  static std::once_flag once;
  std::call_once(once, [] { at::set_num_threads(available_cpu_cores()); });
}

RuntimeInfo runtime_info() {
  RuntimeInfo info;
  info.qread_version = kVersion;
  info.torch_version = compat::torch_version();
  info.intra_op_threads = at::get_num_threads();
  info.cpu_cores = available_cpu_cores();
  info.cuda_available = at::hasCUDA();
#ifdef QREAD_WITH_CUDA
  info.built_with_cuda = true;
  int count = 0;
  if (info.cuda_available && cudaGetDeviceCount(&count) == cudaSuccess) {
    for (int i = 0; i < count; ++i) {
      cudaDeviceProp prop{};
      if (cudaGetDeviceProperties(&prop, i) != cudaSuccess) continue;
      info.gpus.push_back({i, prop.name, static_cast<long long>(prop.totalGlobalMem)});
    }
  }
#endif
  return info;
}

namespace {
// "Key:   N kB" fields of a /proc file, in bytes, into *out (left as they are where absent); the
// file read once.
void proc_kib(const char* file, std::initializer_list<std::pair<const char*, long long*>> fields) {
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line))
    for (const auto& [key, out] : fields)
      if (line.rfind(key, 0) == 0) *out = std::stoll(line.substr(std::string_view(key).size())) * 1024;
}
}  // namespace

MemoryUsage memory_usage(int cuda_device) {
  MemoryUsage m;
  proc_kib("/proc/self/status", {{"VmRSS:", &m.host_rss_bytes}, {"VmHWM:", &m.host_peak_bytes}});
  proc_kib("/proc/meminfo", {{"MemTotal:", &m.host_total_bytes}, {"MemAvailable:", &m.host_available_bytes}});
#ifdef QREAD_WITH_CUDA
  if (at::hasCUDA()) {
    // Index 0 of each stat array is the aggregate over pool types (same in LibTorch 1.13 and 2.x).
    // The allocator refuses ("Invalid device argument") until the process has used the GPU.
    try {
      const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(static_cast<c10::DeviceIndex>(cuda_device));
      m.gpu_allocated_bytes = stats.allocated_bytes[0].current;
      m.gpu_peak_bytes = stats.allocated_bytes[0].peak;
      m.gpu_reserved_bytes = stats.reserved_bytes[0].current;
    } catch (const c10::Error&) {
    }
  }
#else
  (void)cuda_device;
#endif
  return m;
}

void reset_peak_memory() {
  std::ofstream("/proc/self/clear_refs") << "5";  // resets VmHWM; ignored where not permitted
#ifdef QREAD_WITH_CUDA
  if (at::hasCUDA()) {
    try {
      c10::cuda::CUDACachingAllocator::resetPeakStats(0);
    } catch (const c10::Error&) {  // the GPU is not in use yet: nothing to reset
    }
  }
#endif
}

}  // namespace qread
