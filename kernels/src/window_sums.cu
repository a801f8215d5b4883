// The window sums straight from the queries and keys, on tensor cores (mma.sync): a thread block
// takes kSumWarps * 16 keys of one query head; each warp keeps its 16 keys in registers and
// multiplies them by tiles of queries staged in shared memory; exp(scale * q.k - lse) for the keys
// each query sees is summed in registers over all tiles (window_sums.cuh).
// It replaces a matmul writing [H, Tq, Tk] logits (50 MB for an execution block of the 8B
// shape) and the kernel reading them back.
#include "qread/kernels/attention_merge.hpp"

#include "element_access.cuh"
#include "window_sums.cuh"

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>

namespace qread::kernels {
namespace {

template <typename T, int D> void launch_window_sums(const SumArgs& a, std::int64_t heads, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>((a.keys + kSumKeys - 1) / kSumKeys), static_cast<unsigned>(heads));
  window_sums_kernel<T, D><<<grid, 32 * kSumWarps, 0, stream>>>(a);
}

}  // namespace

bool window_sums_supported(ElementType type, std::int64_t dim) {
  return type != ElementType::float32 && (dim == 64 || dim == 128);
}

void window_attention_received_qk_cuda(const void* q, std::int64_t q_head_stride, std::int64_t q_token_stride,
                                       const void* k, std::int64_t k_head_stride, std::int64_t k_token_stride,
                                       const float* lse, float* score, std::int64_t heads, std::int64_t kv_heads,
                                       std::int64_t queries, std::int64_t keys, std::int64_t dim, std::int64_t offset,
                                       std::int64_t window, float scale, ElementType type, void* stream,
                                       std::int64_t score_stride, bool accumulate) {
  if (heads <= 0 || keys <= 0) return;
  if (!window_sums_supported(type, dim)) throw std::runtime_error("window_attention_received_qk_cuda: unsupported type or head size");
  if (kv_heads <= 0 || heads % kv_heads != 0 || heads > 65535)
    throw std::runtime_error("window_attention_received_qk_cuda: bad head counts");
  // The kernel's positions are 32-bit. Distances i - j + offset are below queries + offset, so a
  // longer window is that one.
  constexpr std::int64_t kMost = std::int64_t(1) << 29;
  if (queries > kMost || keys > kMost || offset < -kMost || offset > kMost || window < 0)
    throw std::runtime_error("window_attention_received_qk_cuda: positions past 2^29");
  window = std::min(window, std::max<std::int64_t>(queries + offset, 0));
  auto aligned = [](const void* p, std::int64_t a, std::int64_t b) {
    return reinterpret_cast<std::uintptr_t>(p) % 16 == 0 && a % 8 == 0 && b % 8 == 0;
  };
  if (!aligned(q, q_head_stride, q_token_stride) || !aligned(k, k_head_stride, k_token_stride))
    throw std::runtime_error("window_attention_received_qk_cuda: rows must start 16 bytes apart and aligned");
  const SumArgs a{q, q_head_stride, q_token_stride, k, k_head_stride, k_token_stride, lse, score,
                  score_stride == 0 ? keys : score_stride, heads / kv_heads, queries, keys, offset, window, scale,
                  accumulate};
  auto s = static_cast<cudaStream_t>(stream);
  const bool bf16 = type == ElementType::bfloat16;
  if (dim == 128) bf16 ? launch_window_sums<__nv_bfloat16, 128>(a, heads, s) : launch_window_sums<__half, 128>(a, heads, s);
  else bf16 ? launch_window_sums<__nv_bfloat16, 64>(a, heads, s) : launch_window_sums<__half, 64>(a, heads, s);
  check_launch("window_attention_received_qk_cuda");
}

}  // namespace qread::kernels
