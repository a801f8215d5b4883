// A warp per (head, token) row, kRopeRows rows of one head per thread block; each lane rotates
// two neighbouring pairs (i, i + dim/2), (i + 1, i + 1 + dim/2) with paired loads where the rows
// allow them. (A thread block per row, a pair per thread, ran at about an eighth of the memory
// bandwidth: 16K blocks of 64 threads for one execution block's queries.)
#include "qread/kernels/rope.hpp"

#include "element_access.cuh"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>

namespace qread::kernels {
namespace {

constexpr int kRopeRows = 8;

template <typename T, bool Paired>
__global__ void rope_kernel(const T* __restrict__ x, std::int64_t head_stride, std::int64_t token_stride,
                            const float* __restrict__ cos, const float* __restrict__ sin, std::int64_t angle_stride,
                            T* __restrict__ out, std::int64_t tokens, std::int64_t dim) {
  const std::int64_t t = std::int64_t(blockIdx.x) * kRopeRows + threadIdx.x / 32, h = blockIdx.y, half = dim / 2;
  if (t >= tokens) return;
  const int lane = threadIdx.x % 32;
  const T* row = x + h * head_stride + t * token_stride;
  const float* c = cos + t * angle_stride;
  const float* s = sin + t * angle_stride;
  T* o = out + (h * tokens + t) * dim;
  auto rotate = [&](std::int64_t i, float a, float b, float& lo, float& hi) {
    lo = a * c[i] - b * s[i];
    hi = b * c[i + half] + a * s[i + half];
  };
  if constexpr (Paired) {
    using P = typename Pair<T>::type;
    for (std::int64_t i = 2 * lane; i < half; i += 64) {
      const P a = *reinterpret_cast<const P*>(row + i), b = *reinterpret_cast<const P*>(row + i + half);
      float lo0, hi0, lo1, hi1;
      rotate(i, to_float(a.x), to_float(b.x), lo0, hi0);
      rotate(i + 1, to_float(a.y), to_float(b.y), lo1, hi1);
      P lo, hi;
      lo.x = from_float<T>(lo0), lo.y = from_float<T>(lo1);
      hi.x = from_float<T>(hi0), hi.y = from_float<T>(hi1);
      *reinterpret_cast<P*>(o + i) = lo;
      *reinterpret_cast<P*>(o + i + half) = hi;
    }
  } else {
    for (std::int64_t i = lane; i < half; i += 32) {
      float lo, hi;
      rotate(i, to_float(row[i]), to_float(row[i + half]), lo, hi);
      o[i] = from_float<T>(lo);
      o[i + half] = from_float<T>(hi);
    }
  }
}

template <typename T>
void launch(const void* x, std::int64_t head_stride, std::int64_t token_stride, const float* cos, const float* sin,
            std::int64_t angle_stride, void* out, std::int64_t heads, std::int64_t tokens, std::int64_t dim,
            cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>((tokens + kRopeRows - 1) / kRopeRows), static_cast<unsigned>(heads));
  // Pairs need every row (and both its halves) aligned to two elements.
  const bool paired = (dim / 2) % 2 == 0 && head_stride % 2 == 0 && token_stride % 2 == 0 &&
                      reinterpret_cast<std::uintptr_t>(x) % (2 * sizeof(T)) == 0 &&
                      reinterpret_cast<std::uintptr_t>(out) % (2 * sizeof(T)) == 0;
  auto kernel = paired ? rope_kernel<T, true> : rope_kernel<T, false>;
  kernel<<<grid, 32 * kRopeRows, 0, stream>>>(static_cast<const T*>(x), head_stride, token_stride, cos, sin,
                                              angle_stride, static_cast<T*>(out), tokens, dim);
}

}  // namespace

void rope_cuda(const void* x, std::int64_t head_stride, std::int64_t token_stride, const float* cos,
               const float* sin, void* out, std::int64_t heads, std::int64_t tokens, std::int64_t dim,
               ElementType type, void* stream, std::int64_t angle_stride) {
  if (heads <= 0 || tokens <= 0) return;
  if (dim % 2 != 0 || tokens > 0x7fffffffLL * kRopeRows || heads > 65535)
    throw std::runtime_error("rope_cuda: unsupported shape (dim must be even, heads <= 65535)");
  auto s = static_cast<cudaStream_t>(stream);
  with_element_type(type, [&](auto element) {
    launch<typename decltype(element)::type>(x, head_stride, token_stride, cos, sin, angle_stride < 0 ? dim : angle_stride,
                                             out, heads, tokens, dim, s);
  });
  check_launch("rope_cuda");
}

}  // namespace qread::kernels
