// Small kernels around flash attention for the block memories (InfLLM / Q-LLM), each replacing
// a handful of tensor ops whose launch cost dominates an execution block on the GPU:
//   - merging two attention results over disjoint key sets by their log-sum-exps;
//   - the attention each key of a sliding window received, summed over the queries, from the
//     window's raw logits and the queries' final log-sum-exps.
#pragma once

#include "qread/kernels/rms_norm.hpp"  // ElementType

#include <cstdint>

namespace qread::kernels {

#ifdef QREAD_WITH_CUDA
// out = a * exp(lse_a - lse) + b * exp(lse_b - lse) with lse = log(exp(lse_a) + exp(lse_b)), per
// row (h, t) of `dim` elements. a, b: rows at base + h * head_stride + t * token_stride
// (elements; each its own strides); lse_a, lse_b: float [heads][tokens] contiguous. A part whose
// lse is not finite saw no key and contributes nothing; when neither did, the row is 0 and its
// lse -inf. out: rows of `type` at out + h * out_head_stride + t * out_token_stride; lse: float
// [heads][tokens].
void merge_attention_cuda(const void* a, std::int64_t a_head_stride, std::int64_t a_token_stride, const float* lse_a,
                          const void* b, std::int64_t b_head_stride, std::int64_t b_token_stride, const float* lse_b,
                          void* out, std::int64_t out_head_stride, std::int64_t out_token_stride, float* lse,
                          std::int64_t heads, std::int64_t tokens, std::int64_t dim, ElementType type, void* stream);

// score[h][j] = sum over queries i that see key j of exp(logits[h][i][j] * scale - lse[h][i]),
// where query i sees key j when 0 <= i - j + offset < window. logits: contiguous
// [heads][queries][keys] of `type`; lse: float [heads][queries]; score: float, row h at
// score + h * score_stride (keys when score_stride is 0). With `accumulate`, the sums are added
// to what score holds.
void window_attention_received_cuda(const void* logits, const float* lse, float* score, std::int64_t heads,
                                    std::int64_t queries, std::int64_t keys, std::int64_t offset, std::int64_t window,
                                    float scale, ElementType type, void* stream, std::int64_t score_stride = 0,
                                    bool accumulate = false);

// The same sums from the queries and keys themselves (no logits in memory): q rows (h, i) at
// q + h * q_head_stride + i * q_token_stride, k rows (g, j) likewise, D elements each; query head h
// reads KV head h / (heads / kv_heads). The products q.k are summed in float (tensor cores) from
// the 16-bit elements, not rounded to them as a matmul's logits would be. Needs
// window_sums_supported(type, dim), rows 16-byte aligned with strides a multiple of 8 elements.
bool window_sums_supported(ElementType type, std::int64_t dim);
void window_attention_received_qk_cuda(const void* q, std::int64_t q_head_stride, std::int64_t q_token_stride,
                                       const void* k, std::int64_t k_head_stride, std::int64_t k_token_stride,
                                       const float* lse, float* score, std::int64_t heads, std::int64_t kv_heads,
                                       std::int64_t queries, std::int64_t keys, std::int64_t dim, std::int64_t offset,
                                       std::int64_t window, float scale, ElementType type, void* stream,
                                       std::int64_t score_stride = 0, bool accumulate = false);
#endif

}  // namespace qread::kernels
