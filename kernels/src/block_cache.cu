// The block cache policy runs in one thread (a few dozen slots: nothing to parallelise, and it
// must see its own updates in order); the copies run on a grid of (block, head, keys|values),
// 16 bytes per thread and step where the addresses allow.
#include "qread/kernels/block_cache.hpp"

#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

namespace qread::kernels {
namespace {

void check(cudaError_t err, const char* what) {
  if (err != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(err));
}

__global__ void retrieve_policy_kernel(BlockCacheState state, const std::int64_t* ids, std::int64_t n, bool lru,
                                       std::int64_t* slot, std::uint8_t* missed) {
  block_cache_retrieve(state, ids, n, lru, slot, missed);
}

__global__ void add_scores_kernel(BlockCacheState state, const std::int64_t* ids, std::int64_t n,
                                  const float* attention, double decay) {
  block_cache_add_scores(state, ids, n, attention, decay);
}

template <typename Word>
__device__ void copy_run(const char* src, char* dst, char* also, std::int64_t bytes) {
  const auto* s = reinterpret_cast<const Word*>(src);
  auto* d = reinterpret_cast<Word*>(dst);
  auto* a = reinterpret_cast<Word*>(also);
  for (std::int64_t i = threadIdx.x; i < bytes / std::int64_t(sizeof(Word)); i += blockDim.x) {
    const Word w = s[i];
    d[i] = w;
    if (a) a[i] = w;
  }
}

__global__ void gather_kernel(const std::int64_t* ids, std::int64_t n, const std::int64_t* slot,
                              const std::uint8_t* missed, const std::int64_t* host_k, const std::int64_t* host_v,
                              char* cache_k, char* cache_v, char* out_k, char* out_v, std::int64_t heads,
                              std::int64_t row_bytes) {
  const std::int64_t i = blockIdx.x, h = blockIdx.y;
  const bool values = blockIdx.z == 1;
  const std::int64_t at = slot[i];
  char* cache = values ? cache_v : cache_k;
  char* cached = at >= 0 ? cache + (at * heads + h) * row_bytes : nullptr;
  const char* src = missed[i] ? reinterpret_cast<const char*>((values ? host_v : host_k)[ids[i]]) + h * row_bytes
                              : cached;
  char* dst = (values ? out_v : out_k) + (h * n + i) * row_bytes;
  char* also = missed[i] ? cached : nullptr;
  const auto aligned = [](const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 16 == 0; };
  if (row_bytes % 16 == 0 && aligned(src) && aligned(dst) && (!also || aligned(also)))
    copy_run<uint4>(src, dst, also, row_bytes);
  else
    copy_run<char>(src, dst, also, row_bytes);
}

}  // namespace

void block_cache_retrieve_cuda(BlockCacheState state, const std::int64_t* ids, std::int64_t n, bool lru,
                               std::int64_t* slot, std::uint8_t* missed, const std::int64_t* host_k,
                               const std::int64_t* host_v, void* cache_k, void* cache_v, void* out_k, void* out_v,
                               std::int64_t heads, std::int64_t row_bytes, void* stream) {
  if (n <= 0) return;
  if (n > 65535 || heads > 65535) throw std::runtime_error("block_cache_retrieve_cuda: too many blocks or heads");
  auto s = static_cast<cudaStream_t>(stream);
  retrieve_policy_kernel<<<1, 1, 0, s>>>(state, ids, n, lru, slot, missed);
  check(cudaGetLastError(), "block_cache_retrieve_cuda: policy launch");
  const dim3 grid(static_cast<unsigned>(n), static_cast<unsigned>(heads), 2);
  gather_kernel<<<grid, 256, 0, s>>>(ids, n, slot, missed, host_k, host_v, static_cast<char*>(cache_k),
                                     static_cast<char*>(cache_v), static_cast<char*>(out_k),
                                     static_cast<char*>(out_v), heads, row_bytes);
  check(cudaGetLastError(), "block_cache_retrieve_cuda: copy launch");
}

void block_cache_add_scores_cuda(BlockCacheState state, const std::int64_t* ids, std::int64_t n,
                                 const float* attention, double decay, void* stream) {
  add_scores_kernel<<<1, 1, 0, static_cast<cudaStream_t>(stream)>>>(state, ids, n, attention, decay);
  check(cudaGetLastError(), "block_cache_add_scores_cuda: launch");
}

std::int64_t device_address_of_host_memory(const void* host) {
  void* device = nullptr;
  check(cudaHostGetDevicePointer(&device, const_cast<void*>(host), 0),
        "device_address_of_host_memory (is the memory page-locked?)");
  return static_cast<std::int64_t>(reinterpret_cast<std::uintptr_t>(device));
}

}  // namespace qread::kernels
