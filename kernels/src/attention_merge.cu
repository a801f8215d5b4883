// A warp per merged row (lanes over the head dimension); for the window sums, a
// thread block per 32 keys of a head, each key's queries split over 8 rows of threads.
#include "qread/kernels/attention_merge.hpp"

#include "element_access.cuh"

#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

namespace qread::kernels {
namespace {

// A warp per merged row, kMergeRows rows per thread block (a thread block per row was 16K
// blocks of 128 threads for an execution block of the 8B shape, 18 us for 12 MB of traffic).
constexpr int kMergeRows = 8;

template <typename T>
__global__ void merge_kernel(const T* __restrict__ a, std::int64_t a_head, std::int64_t a_token,
                             const float* __restrict__ lse_a, const T* __restrict__ b, std::int64_t b_head,
                             std::int64_t b_token, const float* __restrict__ lse_b, T* __restrict__ out,
                             float* __restrict__ lse, std::int64_t heads, std::int64_t tokens, std::int64_t dim) {
  const std::int64_t row = std::int64_t(blockIdx.x) * kMergeRows + threadIdx.x / 32;
  if (row >= heads * tokens) return;
  const int lane = threadIdx.x % 32;
  const std::int64_t h = row / tokens, t = row - h * tokens;
  const float la = lse_a[row], lb = lse_b[row];
  const bool va = isfinite(la), vb = isfinite(lb);
  float total = -INFINITY, wa = 0.f, wb = 0.f;
  if (va && vb) {
    const float m = fmaxf(la, lb);
    total = m + logf(expf(la - m) + expf(lb - m));
    wa = expf(la - total);
    wb = expf(lb - total);
  } else if (va) {
    total = la, wa = 1.f;
  } else if (vb) {
    total = lb, wb = 1.f;
  }
  const T* ra = a + h * a_head + t * a_token;
  const T* rb = b + h * b_head + t * b_token;
  T* ro = out + row * dim;
  for (std::int64_t d = lane; d < dim; d += 32) {
    const float x = wa != 0.f ? to_float(ra[d]) * wa : 0.f;
    const float y = wb != 0.f ? to_float(rb[d]) * wb : 0.f;
    ro[d] = from_float<T>(x + y);
  }
  if (lane == 0) lse[row] = total;
}

// A thread block holds kReceivedKeys consecutive keys of one head; its kReceivedSlices rows of
// threads take every kReceivedSlices-th query of each key's window, then add up in shared memory
// (one thread per key and a serial loop over 512 queries left most of the GPU idle).
constexpr int kReceivedKeys = 32, kReceivedSlices = 8;

template <typename T>
__global__ void received_kernel(const T* __restrict__ logits, const float* __restrict__ lse, float* __restrict__ score,
                                std::int64_t heads, std::int64_t queries, std::int64_t keys, std::int64_t offset,
                                std::int64_t window, float scale, std::int64_t score_stride, bool accumulate) {
  __shared__ float partial[kReceivedSlices][kReceivedKeys];
  const std::int64_t j = std::int64_t(blockIdx.x) * kReceivedKeys + threadIdx.x, h = blockIdx.y;
  float sum = 0.f;
  if (j < keys) {
    // 0 <= i - j + offset < window  <=>  j - offset <= i < j - offset + window
    const std::int64_t first = j - offset > 0 ? j - offset : 0;
    const std::int64_t last = j - offset + window < queries ? j - offset + window : queries;
    const T* column = logits + h * queries * keys + j;
    const float* row_lse = lse + h * queries;
    for (std::int64_t i = first + threadIdx.y; i < last; i += kReceivedSlices)
      sum += expf(to_float(column[i * keys]) * scale - row_lse[i]);
  }
  partial[threadIdx.y][threadIdx.x] = sum;
  __syncthreads();
  if (threadIdx.y == 0 && j < keys) {
    for (int y = 1; y < kReceivedSlices; ++y) sum += partial[y][threadIdx.x];
    float& out = score[h * score_stride + j];
    out = accumulate ? out + sum : sum;
  }
}

}  // namespace

void merge_attention_cuda(const void* a, std::int64_t a_head_stride, std::int64_t a_token_stride, const float* lse_a,
                          const void* b, std::int64_t b_head_stride, std::int64_t b_token_stride, const float* lse_b,
                          void* out, float* lse, std::int64_t heads, std::int64_t tokens, std::int64_t dim,
                          ElementType type, void* stream) {
  if (heads <= 0 || tokens <= 0) return;
  const std::int64_t rows = heads * tokens;
  if ((rows + kMergeRows - 1) / kMergeRows > 0x7fffffff) throw std::runtime_error("merge_attention_cuda: too many rows");
  const auto grid = static_cast<unsigned>((rows + kMergeRows - 1) / kMergeRows);
  auto s = static_cast<cudaStream_t>(stream);
  with_element_type(type, [&](auto element) {
    using T = typename decltype(element)::type;
    merge_kernel<T><<<grid, 32 * kMergeRows, 0, s>>>(static_cast<const T*>(a), a_head_stride, a_token_stride, lse_a,
                                                     static_cast<const T*>(b), b_head_stride, b_token_stride, lse_b,
                                                     static_cast<T*>(out), lse, heads, tokens, dim);
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
  const dim3 threads(kReceivedKeys, kReceivedSlices);
  auto s = static_cast<cudaStream_t>(stream);
  with_element_type(type, [&](auto element) {
    using T = typename decltype(element)::type;
    received_kernel<T><<<grid, threads, 0, s>>>(static_cast<const T*>(logits), lse, score, heads, queries, keys,
                                                offset, window, scale, score_stride, accumulate);
  });
  check_launch("window_attention_received_cuda");
}

}  // namespace qread::kernels
