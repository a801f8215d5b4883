// The merge and window-sum kernels (attention_merge.cu launches them; the CPU emulation test runs
// them too).
#pragma once

#include "element_access.cuh"

#include <cstdint>

namespace qread::kernels {
namespace {

// A warp per merged row, kMergeRows rows per thread block (a thread block per row was 16K
// blocks of 128 threads for an execution block of the 8B shape, 18 us for 12 MB of traffic).
constexpr int kMergeRows = 8;

template <typename T>
__global__ void merge_kernel(const T* __restrict__ a, std::int64_t a_head, std::int64_t a_token,
                             const float* __restrict__ lse_a, const T* __restrict__ b, std::int64_t b_head,
                             std::int64_t b_token, const float* __restrict__ lse_b, T* __restrict__ out,
                             std::int64_t out_head, std::int64_t out_token, float* __restrict__ lse,
                             std::int64_t heads, std::int64_t tokens, std::int64_t dim) {
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
  T* ro = out + h * out_head + t * out_token;
  for (std::int64_t d = lane; d < dim; d += 32) {
    const float x = wa != 0.f ? to_float(ra[d]) * wa : 0.f;
    const float y = wb != 0.f ? to_float(rb[d]) * wb : 0.f;
    ro[d] = from_float<T>(x + y);
  }
  if (lane == 0) lse[row] = total;
}

// A thread block holds kReceivedKeys consecutive keys of one head, two per lane (paired loads:
// a warp reads 128 bytes of a bf16 row at once); its kReceivedSlices warps take every
// kReceivedSlices-th query of the keys' windows, then add up in shared memory. (32 keys per
// block, a key per lane, read 64 bytes per warp and ran at about half the memory bandwidth.)
constexpr int kReceivedKeys = 64, kReceivedSlices = 8;

template <typename T, bool Paired>
__global__ void received_kernel(const T* __restrict__ logits, const float* __restrict__ lse, float* __restrict__ score,
                                std::int64_t heads, std::int64_t queries, std::int64_t keys, std::int64_t offset,
                                std::int64_t window, float scale, std::int64_t score_stride, bool accumulate) {
  __shared__ float partial[kReceivedSlices][kReceivedKeys];
  const int lane = threadIdx.x % 32, slice = threadIdx.x / 32;
  const std::int64_t h = blockIdx.y, j0 = std::int64_t(blockIdx.x) * kReceivedKeys, j = j0 + 2 * lane;
  // Query i sees key j when 0 <= i - j + offset < window, i.e. j - offset <= i < j - offset + window:
  // the rows any key of this block needs, and each of this lane's two keys' own.
  auto clamp = [&](std::int64_t i) { return i < 0 ? std::int64_t(0) : i > queries ? queries : i; };
  const std::int64_t lo = clamp(j0 - offset), hi = clamp(j0 + kReceivedKeys - 1 - offset + window);
  const std::int64_t first0 = j - offset, last0 = j - offset + window;
  const float* row_lse = lse + h * queries;
  const T* head = logits + h * queries * keys;
  float sum0 = 0.f, sum1 = 0.f;
  for (std::int64_t i = lo + slice; i < hi; i += kReceivedSlices) {
    const T* row = head + i * keys;
    const float l = row_lse[i];
    // Key j + 1 is seen by the queries of key j shifted by one.
    const bool see0 = j < keys && i >= first0 && i < last0, see1 = j + 1 < keys && i > first0 && i <= last0;
    float x0 = 0.f, x1 = 0.f;
    if constexpr (Paired) {
      if (see0 || see1) {  // keys is even here: j < keys implies j + 1 < keys
        const auto pair = *reinterpret_cast<const typename Pair<T>::type*>(row + j);
        x0 = to_float(pair.x), x1 = to_float(pair.y);
      }
    } else {
      if (see0) x0 = to_float(row[j]);
      if (see1) x1 = to_float(row[j + 1]);
    }
    if (see0) sum0 += expf(x0 * scale - l);
    if (see1) sum1 += expf(x1 * scale - l);
  }
  partial[slice][2 * lane] = sum0;
  partial[slice][2 * lane + 1] = sum1;
  __syncthreads();
  // Each of the first kReceivedKeys threads adds up one key's slices.
  const int k = threadIdx.x;
  if (k < kReceivedKeys && j0 + k < keys) {
    float total = 0.f;
    for (int y = 0; y < kReceivedSlices; ++y) total += partial[y][k];
    float& out = score[h * score_stride + j0 + k];
    out = accumulate ? out + total : total;
  }
}

}  // namespace
}  // namespace qread::kernels
