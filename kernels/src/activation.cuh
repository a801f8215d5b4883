// The MLP activation's kernel (activation.cu launches it; the CPU emulation test runs it too).
#pragma once

#include "element_access.cuh"

#include <cstdint>

namespace qread::kernels {
namespace {

constexpr int kActivationThreads = 256;
constexpr std::int64_t kMaxRowBlocks = 65535;

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

}  // namespace
}  // namespace qread::kernels
