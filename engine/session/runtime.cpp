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

#ifdef QREAD_WITH_CUDA
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

}  // namespace qread
