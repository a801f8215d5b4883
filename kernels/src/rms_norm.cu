// One thread block per row; each thread accumulates a strided slice of x^2 in float, a
// block-wide reduction gives the row's inverse RMS, then the same threads scale the row.
#include "qread/kernels/rms_norm.hpp"

#include "element_access.cuh"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

namespace qread::kernels {
namespace {

constexpr int kThreads = 256;

template <typename T>
__global__ void rms_norm_kernel(const T* __restrict__ x, const T* __restrict__ weight,
                                T* __restrict__ out, std::int64_t cols, float eps) {
  const T* row = x + blockIdx.x * cols;
  T* out_row = out + blockIdx.x * cols;
  float sum_sq = 0.f;
  for (std::int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
    const float v = to_float(row[c]);
    sum_sq += v * v;
  }
  // Warp reduction, then one value per warp through shared memory.
  for (int offset = 16; offset > 0; offset /= 2) sum_sq += __shfl_xor_sync(0xffffffffu, sum_sq, offset);
  __shared__ float warp_sums[kThreads / 32];
  __shared__ float inv_rms;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  if (lane == 0) warp_sums[warp] = sum_sq;
  __syncthreads();
  if (warp == 0) {
    float s = lane < blockDim.x / 32 ? warp_sums[lane] : 0.f;
    for (int offset = 16; offset > 0; offset /= 2) s += __shfl_xor_sync(0xffffffffu, s, offset);
    if (lane == 0) inv_rms = rsqrtf(s / float(cols) + eps);
  }
  __syncthreads();
  for (std::int64_t c = threadIdx.x; c < cols; c += blockDim.x)
    out_row[c] = from_float<T>(to_float(row[c]) * inv_rms * to_float(weight[c]));
}

template <typename T>
void launch(const void* x, const void* weight, void* out, std::int64_t rows, std::int64_t cols,
            float eps, cudaStream_t stream) {
  rms_norm_kernel<T><<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(
      static_cast<const T*>(x), static_cast<const T*>(weight), static_cast<T*>(out), cols, eps);
}

}  // namespace

void rms_norm_cuda(const void* x, const void* weight, void* out, std::int64_t rows,
                   std::int64_t cols, float eps, ElementType type, void* stream) {
  if (rows <= 0 || cols <= 0) return;
  if (rows > 0x7fffffff) throw std::runtime_error("rms_norm_cuda: too many rows: " + std::to_string(rows));
  auto s = static_cast<cudaStream_t>(stream);
  with_element_type(type, [&](auto element) {
    launch<typename decltype(element)::type>(x, weight, out, rows, cols, eps, s);
  });
  check_launch("rms_norm_cuda");
}

}  // namespace qread::kernels
