// SiLU(gate) * up: a thread per 16 bytes of a row (8 bf16), rows over the grid's y dimension.
#include "qread/kernels/activation.hpp"

#include "element_access.cuh"

#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>

namespace qread::kernels {
namespace {

constexpr int kActivationThreads = 256;
constexpr std::int64_t kMaxRowBlocks = 65535;

template <typename T, int V> struct alignas(V * sizeof(T)) Pack {
  T v[V];
};

template <typename T> __device__ inline T silu_mul(T gate, T up) {
  const float x = to_float(gate);
  const T silu = from_float<T>(x / (1.0f + expf(-x)));
  return from_float<T>(to_float(silu) * to_float(up));
}

template <typename T, int V>
__global__ void silu_mul_kernel(T* __restrict__ gate, const T* __restrict__ up, std::int64_t rows, std::int64_t cols,
                                std::int64_t row_stride) {
  const std::int64_t c = (std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x) * V;
  if (c >= cols) return;
  for (std::int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
    auto* g = reinterpret_cast<Pack<T, V>*>(gate + r * row_stride + c);
    const auto u = *reinterpret_cast<const Pack<T, V>*>(up + r * row_stride + c);
    auto x = *g;
#pragma unroll
    for (int i = 0; i < V; ++i) x.v[i] = silu_mul(x.v[i], u.v[i]);
    *g = x;
  }
}

template <typename T, int V>
void launch_silu_mul(T* gate, const T* up, std::int64_t rows, std::int64_t cols, std::int64_t row_stride,
                     cudaStream_t stream) {
  const std::int64_t threads = (cols + V - 1) / V;
  const dim3 grid(static_cast<unsigned>((threads + kActivationThreads - 1) / kActivationThreads),
                  static_cast<unsigned>(rows < kMaxRowBlocks ? rows : kMaxRowBlocks));
  silu_mul_kernel<T, V><<<grid, kActivationThreads, 0, stream>>>(gate, up, rows, cols, row_stride);
}

}  // namespace

void silu_mul_cuda(void* gate, const void* up, std::int64_t rows, std::int64_t cols, std::int64_t row_stride,
                   ElementType type, void* stream) {
  if (rows <= 0 || cols <= 0) return;
  if (row_stride < cols) throw std::runtime_error("silu_mul_cuda: rows overlap (stride below the row length)");
  if ((cols + kActivationThreads - 1) / kActivationThreads > 0x7fffffff)
    throw std::runtime_error("silu_mul_cuda: rows too long");
  auto s = static_cast<cudaStream_t>(stream);
  with_element_type(type, [&](auto element) {
    using T = typename decltype(element)::type;
    constexpr int kVec = 16 / int(sizeof(T));
    auto* g = static_cast<T*>(gate);
    const auto* u = static_cast<const T*>(up);
    const bool packed = cols % kVec == 0 && row_stride % kVec == 0 &&
                        reinterpret_cast<std::uintptr_t>(gate) % 16 == 0 && reinterpret_cast<std::uintptr_t>(up) % 16 == 0;
    if (packed) launch_silu_mul<T, kVec>(g, u, rows, cols, row_stride, s);
    else launch_silu_mul<T, 1>(g, u, rows, cols, row_stride, s);
  });
  check_launch("silu_mul_cuda");
}

}  // namespace qread::kernels
