// SiLU(gate) * up: a thread per 16 bytes of a row (8 bf16), rows over the grid's y dimension.
#include "qread/kernels/activation.hpp"

#include "activation.cuh"
#include "element_access.cuh"

#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>

namespace qread::kernels {
namespace {

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
