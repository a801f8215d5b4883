// The block cache policy runs in one thread (a few dozen slots: nothing to parallelise, and it
// must see its own updates in order); the copies run on a grid of (block, head, keys|values),
// 16 bytes per thread and step where the addresses allow. Representative keys: one thread block
// per (memory block, query head) picks the top r scores by repeated arg-max, then averages.
#include "qread/kernels/block_cache.hpp"

#include "element_access.cuh"

#include <cuda_runtime.h>
#include <sys/mman.h>

#include <cstring>

#include <cfloat>
#include <climits>
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
                              std::int64_t host_head_bytes, char* cache_k, char* cache_v, char* out_k, char* out_v, std::int64_t heads,
                              std::int64_t row_bytes) {
  const std::int64_t i = blockIdx.x, h = blockIdx.y;
  const bool values = blockIdx.z == 1;
  const std::int64_t at = slot[i];
  char* cache = values ? cache_v : cache_k;
  char* cached = at >= 0 ? cache + (at * heads + h) * row_bytes : nullptr;
  const char* src = missed[i] ? reinterpret_cast<const char*>((values ? host_v : host_k)[ids[i]]) + h * host_head_bytes
                              : cached;
  char* dst = (values ? out_v : out_k) + (h * n + i) * row_bytes;
  char* also = missed[i] ? cached : nullptr;
  const auto aligned = [](const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 16 == 0; };
  if (row_bytes % 16 == 0 && aligned(src) && aligned(dst) && (!also || aligned(also)))
    copy_run<uint4>(src, dst, also, row_bytes);
  else
    copy_run<char>(src, dst, also, row_bytes);
}

constexpr int kRepresentativeThreads = 128;

template <typename T>
__global__ void representatives_kernel(const T* __restrict__ keys, std::int64_t key_head_stride,
                                       const float* __restrict__ scores, std::int64_t score_stride, T* __restrict__ out,
                                       std::int64_t block, std::int64_t heads, std::int64_t group, std::int64_t dim,
                                       std::int64_t r) {
  extern __shared__ float score[];  // [block]
  __shared__ float best_value[kRepresentativeThreads / 32];
  __shared__ int best_index[kRepresentativeThreads / 32];
  __shared__ int chosen[1024];
  const std::int64_t i = blockIdx.x, h = blockIdx.y;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  for (std::int64_t t = threadIdx.x; t < block; t += blockDim.x) score[t] = scores[h * score_stride + i * block + t];
  __syncthreads();
  for (std::int64_t j = 0; j < r; ++j) {
    float value = -FLT_MAX;
    int index = INT_MAX;
    for (std::int64_t t = threadIdx.x; t < block; t += blockDim.x)
      if (score[t] > value) value = score[t], index = int(t);
    for (int offset = 16; offset > 0; offset /= 2) {
      const float v = __shfl_down_sync(0xffffffffu, value, offset);
      const int x = __shfl_down_sync(0xffffffffu, index, offset);
      if (v > value || (v == value && x < index)) value = v, index = x;
    }
    if (lane == 0) best_value[warp] = value, best_index[warp] = index;
    __syncthreads();
    if (threadIdx.x == 0) {
      for (int w = 1; w < int(blockDim.x / 32); ++w)
        if (best_value[w] > best_value[0] || (best_value[w] == best_value[0] && best_index[w] < best_index[0]))
          best_value[0] = best_value[w], best_index[0] = best_index[w];
      chosen[j] = best_index[0];
      score[best_index[0]] = -FLT_MAX;  // taken: below every score (scores are sums of probabilities)
    }
    __syncthreads();
  }
  const T* head_keys = keys + (h / group) * key_head_stride + i * block * dim;
  T* row = out + (i * heads + h) * dim;
  for (std::int64_t d = threadIdx.x; d < dim; d += blockDim.x) {
    float sum = 0.f;
    for (std::int64_t j = 0; j < r; ++j) sum += to_float(head_keys[std::int64_t(chosen[j]) * dim + d]);
    row[d] = from_float<T>(sum / float(r));
  }
}

}  // namespace

void block_representatives_cuda(const void* keys, std::int64_t key_head_stride, const float* scores,
                                std::int64_t score_stride, void* out, std::int64_t n, std::int64_t block,
                                std::int64_t heads, std::int64_t group, std::int64_t dim, std::int64_t r,
                                ElementType type, void* stream) {
  if (n <= 0) return;
  if (r < 1 || r > block || block > 1024 || heads > 65535 || n > 0x7fffffff)
    throw std::runtime_error("block_representatives_cuda: unsupported shape (1 <= r <= block <= 1024)");
  const dim3 grid(static_cast<unsigned>(n), static_cast<unsigned>(heads));
  const std::size_t shared = std::size_t(block) * sizeof(float);
  auto s = static_cast<cudaStream_t>(stream);
  switch (type) {
    case ElementType::float32:
      representatives_kernel<float><<<grid, kRepresentativeThreads, shared, s>>>(
          static_cast<const float*>(keys), key_head_stride, scores, score_stride, static_cast<float*>(out), block,
          heads, group, dim, r);
      break;
    case ElementType::bfloat16:
      representatives_kernel<__nv_bfloat16><<<grid, kRepresentativeThreads, shared, s>>>(
          static_cast<const __nv_bfloat16*>(keys), key_head_stride, scores, score_stride,
          static_cast<__nv_bfloat16*>(out), block, heads, group, dim, r);
      break;
    case ElementType::float16:
      representatives_kernel<__half><<<grid, kRepresentativeThreads, shared, s>>>(
          static_cast<const __half*>(keys), key_head_stride, scores, score_stride, static_cast<__half*>(out), block,
          heads, group, dim, r);
      break;
  }
  check(cudaGetLastError(), "block_representatives_cuda: launch");
}

void* allocate_pinned(std::int64_t bytes) {
  void* memory = mmap(nullptr, std::size_t(bytes), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) return nullptr;
  madvise(memory, std::size_t(bytes), MADV_HUGEPAGE);  // a hint; fine when refused
  std::memset(memory, 0, std::size_t(bytes));
  if (cudaHostRegister(memory, std::size_t(bytes), cudaHostRegisterPortable | cudaHostRegisterMapped) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky-free error state
    munmap(memory, std::size_t(bytes));
    return nullptr;
  }
  return memory;
}

void free_pinned(void* memory, std::int64_t bytes) {
  if (!memory) return;
  cudaDeviceSynchronize();
  cudaHostUnregister(memory);
  munmap(memory, std::size_t(bytes));
}

void copy_rows_async(void* dst, std::int64_t dst_pitch, const void* src, std::int64_t src_pitch, std::int64_t width,
                     std::int64_t rows, void* stream) {
  check(cudaMemcpy2DAsync(dst, std::size_t(dst_pitch), src, std::size_t(src_pitch), std::size_t(width),
                          std::size_t(rows), cudaMemcpyDefault, static_cast<cudaStream_t>(stream)),
        "copy_rows_async");
}

void block_cache_retrieve_cuda(BlockCacheState state, const std::int64_t* ids, std::int64_t n, bool lru,
                               std::int64_t* slot, std::uint8_t* missed, const std::int64_t* host_k,
                               const std::int64_t* host_v, std::int64_t host_head_bytes, void* cache_k,
                               void* cache_v, void* out_k, void* out_v, std::int64_t heads, std::int64_t row_bytes,
                               void* stream) {
  if (n <= 0) return;
  if (n > 65535 || heads > 65535) throw std::runtime_error("block_cache_retrieve_cuda: too many blocks or heads");
  auto s = static_cast<cudaStream_t>(stream);
  retrieve_policy_kernel<<<1, 1, 0, s>>>(state, ids, n, lru, slot, missed);
  check(cudaGetLastError(), "block_cache_retrieve_cuda: policy launch");
  const dim3 grid(static_cast<unsigned>(n), static_cast<unsigned>(heads), 2);
  gather_kernel<<<grid, 256, 0, s>>>(ids, n, slot, missed, host_k, host_v, host_head_bytes, static_cast<char*>(cache_k),
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
