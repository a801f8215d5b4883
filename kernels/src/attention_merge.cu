// A warp per merged row (lanes over the head dimension); for the window sums, a
// thread block per 64 keys of a head, each key's queries split over 8 warps.
#include "qread/kernels/attention_merge.hpp"

#include "attention_merge.cuh"
#include "element_access.cuh"

#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>

namespace qread::kernels {

void merge_attention_cuda(const void* a, std::int64_t a_head_stride, std::int64_t a_token_stride, const float* lse_a,
                          const void* b, std::int64_t b_head_stride, std::int64_t b_token_stride, const float* lse_b,
                          void* out, std::int64_t out_head_stride, std::int64_t out_token_stride, float* lse,
                          std::int64_t heads, std::int64_t tokens, std::int64_t dim, ElementType type, void* stream) {
  if (heads <= 0 || tokens <= 0) return;
  const std::int64_t rows = heads * tokens;
  if ((rows + kMergeRows - 1) / kMergeRows > 0x7fffffff) throw std::runtime_error("merge_attention_cuda: too many rows");
  const auto grid = static_cast<unsigned>((rows + kMergeRows - 1) / kMergeRows);
  auto s = static_cast<cudaStream_t>(stream);
  with_element_type(type, [&](auto element) {
    using T = typename decltype(element)::type;
    merge_kernel<T><<<grid, 32 * kMergeRows, 0, s>>>(static_cast<const T*>(a), a_head_stride, a_token_stride, lse_a,
                                                     static_cast<const T*>(b), b_head_stride, b_token_stride, lse_b,
                                                     static_cast<T*>(out), out_head_stride, out_token_stride, lse,
                                                     heads, tokens, dim);
  });
  check_launch("merge_attention_cuda");
}

void window_attention_received_cuda(const void* logits, const float* lse, float* score, std::int64_t heads,
                                    std::int64_t queries, std::int64_t keys, std::int64_t offset, std::int64_t window,
                                    float scale, ElementType type, void* stream, std::int64_t score_stride,
                                    bool accumulate) {
  if (heads <= 0 || keys <= 0) return;
  if (score_stride == 0) score_stride = keys;
  if (heads > 65535) throw std::runtime_error("window_attention_received_cuda: too many heads");
  const dim3 grid(static_cast<unsigned>((keys + kReceivedKeys - 1) / kReceivedKeys), static_cast<unsigned>(heads));
  auto s = static_cast<cudaStream_t>(stream);
  with_element_type(type, [&](auto element) {
    using T = typename decltype(element)::type;
    // Pairs need even rows (every pair inside one) and an aligned start.
    const bool paired = keys % 2 == 0 && reinterpret_cast<std::uintptr_t>(logits) % (2 * sizeof(T)) == 0;
    auto kernel = paired ? received_kernel<T, true> : received_kernel<T, false>;
    kernel<<<grid, 32 * kReceivedSlices, 0, s>>>(static_cast<const T*>(logits), lse, score, heads, queries, keys,
                                                 offset, window, scale, score_stride, accumulate);
  });
  check_launch("window_attention_received_cuda");
}

}  // namespace qread::kernels
