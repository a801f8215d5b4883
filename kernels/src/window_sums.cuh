// The window sums' kernel (window_sums.cu launches it; the CPU emulation test runs it too).
#pragma once

#include "element_access.cuh"
#include "qread/kernels/attention_merge.hpp"

#ifndef QREAD_CUDA_EMULATION
#include <mma.h>
#endif

#include <cstdint>

namespace qread::kernels {
namespace {

constexpr int kSumWarps = 8, kSumKeys = 16 * kSumWarps, kSumQueries = 32;
constexpr int kScratchPitch = kSumQueries + 4;  // floats per key row of a warp's products

struct SumArgs {
  const void* q;
  std::int64_t q_head, q_token;
  const void* k;
  std::int64_t k_head, k_token;
  const float* lse;
  float* score;
  std::int64_t score_stride, group, queries, keys, offset, window;
  float scale;
  bool accumulate;
};

template <typename T, int D> struct SumLayout {
  static constexpr int kPitch = D + 8;  // elements per staged row (16 bytes of padding: fewer bank conflicts)
  static constexpr int kKeyBytes = kSumKeys * kPitch * int(sizeof(T));
  static constexpr int kQueryBytes = kSumQueries * kPitch * int(sizeof(T));
  static constexpr int kScratchBytes = kSumWarps * 16 * kScratchPitch * int(sizeof(float));
  // The keys' rows are needed only until the warps hold them; the queries and the products reuse
  // their memory.
  static constexpr int kBytes = kKeyBytes > kQueryBytes + kScratchBytes ? kKeyBytes : kQueryBytes + kScratchBytes;
  static_assert(D % 16 == 0 && kQueryBytes % 32 == 0, "fragment pointers must be 32-byte aligned");
};

// Rows [first, first + rows) of a head (row r at base + r * token) staged in shared memory, kPitch
// elements apart, 16 bytes per load and kLoads loads per thread; rows at or past `end` are zero.
// load() fills registers, store() writes them: the next tile's loads are in flight while the
// warps work on the current one.
template <typename T, int D, int Rows> struct Staging {
  static constexpr int kVec = 16 / int(sizeof(T)), kPerRow = D / kVec;
  static constexpr int kLoads = Rows * kPerRow / (32 * kSumWarps);
  static_assert(Rows * kPerRow % (32 * kSumWarps) == 0, "whole loads per thread");
  uint4 part[kLoads];

  __device__ void load(const T* base, std::int64_t token, std::int64_t first, std::int64_t end) {
#pragma unroll
    for (int n = 0; n < kLoads; ++n) {
      const int x = threadIdx.x + n * 32 * kSumWarps, row = x / kPerRow, col = (x % kPerRow) * kVec;
      part[n] = first + row < end ? *reinterpret_cast<const uint4*>(base + (first + row) * token + col)
                                  : make_uint4(0, 0, 0, 0);
    }
  }
  __device__ void store(T* dst) const {
#pragma unroll
    for (int n = 0; n < kLoads; ++n) {
      const int x = threadIdx.x + n * 32 * kSumWarps, row = x / kPerRow, col = (x % kPerRow) * kVec;
      *reinterpret_cast<uint4*>(dst + row * SumLayout<T, D>::kPitch + col) = part[n];
    }
  }
};

template <typename T, int D>
__global__ void __launch_bounds__(32 * kSumWarps) window_sums_kernel(SumArgs a) {
  using namespace nvcuda;
  using Layout = SumLayout<T, D>;
  constexpr int kPitch = Layout::kPitch, kSteps = D / 16;
  __shared__ __align__(128) unsigned char shared[Layout::kBytes];
  T* staged = reinterpret_cast<T*>(shared);
  float* scratch = reinterpret_cast<float*>(shared + Layout::kQueryBytes);

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const std::int64_t h = blockIdx.y, c0 = std::int64_t(blockIdx.x) * kSumKeys;
  const std::int64_t c_end = c0 + kSumKeys < a.keys ? c0 + kSumKeys : a.keys;
  const T* q = static_cast<const T*>(a.q) + h * a.q_head;
  const T* k = static_cast<const T*>(a.k) + (h / a.group) * a.k_head;

  // This warp's 16 keys, over the head dimension.
  {
    Staging<T, D, kSumKeys> keys;
    keys.load(k, a.k_token, c0, a.keys);
    keys.store(staged);
  }
  __syncthreads();
  wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> key_part[kSteps];
#pragma unroll
  for (int s = 0; s < kSteps; ++s) wmma::load_matrix_sync(key_part[s], staged + warp * 16 * kPitch + s * 16, kPitch);
  __syncthreads();  // the keys' rows are free again

  // Query i sees key j when 0 <= i - j + offset < window, i.e. j - offset <= i < j - offset + window.
  auto clamp = [&](std::int64_t i) { return i < 0 ? std::int64_t(0) : i > a.queries ? a.queries : i; };
  const std::int64_t lo = clamp(c0 - a.offset), hi = clamp(c_end - 1 - a.offset + a.window);
  const std::int64_t j0 = c0 + warp * 16;
  // The queries any of this warp's keys needs (none when its keys are past the end).
  const bool has_keys = j0 < a.keys;
  const std::int64_t w_lo = j0 - a.offset, w_hi = j0 + 15 - a.offset + a.window;
  const float* row_lse = a.lse + h * a.queries;
  float* products = scratch + warp * 16 * kScratchPitch;
  float sum[16];
#pragma unroll
  for (int r = 0; r < 16; ++r) sum[r] = 0.f;

  Staging<T, D, kSumQueries> tile;
  if (lo < hi) tile.load(q, a.q_token, lo, hi);
  for (std::int64_t s = lo; s < hi; s += kSumQueries) {
    tile.store(staged);
    __syncthreads();
    if (s + kSumQueries < hi) tile.load(q, a.q_token, s + kSumQueries, hi);
    if (has_keys && s < w_hi && s + kSumQueries > w_lo) {
      // products[r][c] = k_(j0 + r) . q_(s + c), two tiles of 16 queries.
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[2];
      wmma::fill_fragment(acc[0], 0.f);
      wmma::fill_fragment(acc[1], 0.f);
#pragma unroll
      for (int step = 0; step < kSteps; ++step)
#pragma unroll
        for (int t = 0; t < 2; ++t) {
          wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::col_major> query_part;
          wmma::load_matrix_sync(query_part, staged + t * 16 * kPitch + step * 16, kPitch);
          wmma::mma_sync(acc[t], key_part[step], query_part, acc[t]);
        }
      wmma::store_matrix_sync(products, acc[0], kScratchPitch, wmma::mem_row_major);
      wmma::store_matrix_sync(products + 16, acc[1], kScratchPitch, wmma::mem_row_major);
      __syncwarp();
      const std::int64_t i = s + lane;
      if (i < hi) {
        const float l = row_lse[i];
        // The keys j0 + r this query sees: r in [r_lo, r_hi).
        const std::int64_t first = i + a.offset - a.window + 1 - j0, last = i + a.offset + 1 - j0;
        const std::int64_t r_lo = first > 0 ? first : 0;
        std::int64_t r_hi = last < 16 ? last : 16;
        if (a.keys - j0 < r_hi) r_hi = a.keys - j0;
#pragma unroll
        for (int r = 0; r < 16; ++r)
          if (r >= r_lo && r < r_hi) sum[r] += __expf(products[r * kScratchPitch + lane] * a.scale - l);
      }
    }
    __syncthreads();  // before the next tile's queries overwrite these
  }

#pragma unroll
  for (int r = 0; r < 16; ++r) {
    float total = sum[r];
#pragma unroll
    for (int shift = 16; shift > 0; shift /= 2) total += __shfl_xor_sync(0xffffffffu, total, shift);
    if (lane == r && j0 + r < a.keys) {
      float& out = a.score[h * a.score_stride + j0 + r];
      out = a.accumulate ? out + total : total;
    }
  }
}

}  // namespace
}  // namespace qread::kernels
