// One thread block per (token, head) row; each thread rotates pairs (i, i + dim/2).
#include "qread/kernels/rope.hpp"

#include "element_access.cuh"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

namespace qread::kernels {
namespace {

template <typename T>
__global__ void rope_kernel(const T* __restrict__ x, std::int64_t head_stride, std::int64_t token_stride,
                            const float* __restrict__ cos, const float* __restrict__ sin, T* __restrict__ out,
                            std::int64_t tokens, std::int64_t dim) {
  const std::int64_t t = blockIdx.x, h = blockIdx.y, half = dim / 2;
  const T* row = x + h * head_stride + t * token_stride;
  const float* c = cos + t * dim;
  const float* s = sin + t * dim;
  T* o = out + (h * tokens + t) * dim;
  for (std::int64_t i = threadIdx.x; i < half; i += blockDim.x) {
    const float a = to_float(row[i]), b = to_float(row[i + half]);
    o[i] = from_float<T>(a * c[i] - b * s[i]);
    o[i + half] = from_float<T>(b * c[i + half] + a * s[i + half]);
  }
}

template <typename T>
void launch(const void* x, std::int64_t head_stride, std::int64_t token_stride, const float* cos, const float* sin,
            void* out, std::int64_t heads, std::int64_t tokens, std::int64_t dim, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>(tokens), static_cast<unsigned>(heads));
  const unsigned threads = static_cast<unsigned>(dim / 2 < 128 ? (dim / 2 + 31) / 32 * 32 : 128);
  rope_kernel<T><<<grid, threads, 0, stream>>>(static_cast<const T*>(x), head_stride, token_stride, cos, sin,
                                               static_cast<T*>(out), tokens, dim);
}

}  // namespace

void rope_cuda(const void* x, std::int64_t head_stride, std::int64_t token_stride, const float* cos,
               const float* sin, void* out, std::int64_t heads, std::int64_t tokens, std::int64_t dim,
               ElementType type, void* stream) {
  if (heads <= 0 || tokens <= 0) return;
  if (dim % 2 != 0 || tokens > 0x7fffffff || heads > 65535)
    throw std::runtime_error("rope_cuda: unsupported shape (dim must be even, heads <= 65535)");
  auto s = static_cast<cudaStream_t>(stream);
  with_element_type(type, [&](auto element) {
    launch<typename decltype(element)::type>(x, head_stride, token_stride, cos, sin, out, heads, tokens, dim, s);
  });
  check_launch("rope_cuda");
}

}  // namespace qread::kernels
