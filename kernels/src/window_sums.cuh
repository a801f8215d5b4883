// The window sums' kernel (window_sums.cu launches it; the CPU emulation test runs it too).
#pragma once

#include "element_access.cuh"
#include "qread/kernels/attention_merge.hpp"

#include <cstdint>
#include <cstring>

namespace qread::kernels {
namespace {

constexpr int kSumWarps = 8, kSumKeys = 16 * kSumWarps, kSumQueries = 64;

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

// Two consecutive elements of T (the first in the low half) as one 32-bit register.
template <typename T> __device__ inline unsigned pair_bits(const T* p) {
#ifdef QREAD_CUDA_EMULATION
  unsigned v;
  std::memcpy(&v, p, sizeof v);
  return v;
#else
  return *reinterpret_cast<const unsigned*>(p);
#endif
}

#ifndef QREAD_CUDA_EMULATION
// d += a * b for one warp: a 16 x 16 (row major), b 16 x 8 (column major), d 16 x 8 in f32, as the
// PTX ISA lays out mma.m16n8k16 over the lanes: with g = lane / 4 and t = lane % 4, a holds
// rows g (a[0], a[2]) and g + 8 (a[1], a[3]) at columns 2t, 2t + 1 (a[0], a[1]) and 2t + 8,
// 2t + 9 (a[2], a[3]); b holds column g at rows 2t, 2t + 1 (b[0]) and 2t + 8, 2t + 9 (b[1]); d
// holds rows g (d[0], d[1]) and g + 8 (d[2], d[3]) at columns 2t, 2t + 1. (The emulation test
// implements the same layout.)
template <typename T> __device__ inline void mma_m16n8k16(float (&d)[4], const unsigned (&a)[4], const unsigned (&b)[2]);
template <> __device__ inline void mma_m16n8k16<__nv_bfloat16>(float (&d)[4], const unsigned (&a)[4], const unsigned (&b)[2]) {
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
               : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
template <> __device__ inline void mma_m16n8k16<__half>(float (&d)[4], const unsigned (&a)[4], const unsigned (&b)[2]) {
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
               : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
#endif

// 16 bytes from global to shared memory, or zeros where !valid (src is not read then), not waited
// for: wait_copies() waits for all of this thread's.
__device__ inline void copy_16_async(void* dst, const void* src, bool valid) {
#ifdef QREAD_CUDA_EMULATION
  if (valid) std::memcpy(dst, src, 16);
  else std::memset(dst, 0, 16);
#else
  const auto address = static_cast<unsigned>(__cvta_generic_to_shared(dst));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(address), "l"(src), "r"(valid ? 16 : 0));
#endif
}
__device__ inline void wait_copies() {
#ifndef QREAD_CUDA_EMULATION
  asm volatile("cp.async.commit_group;\ncp.async.wait_group 0;\n" ::: "memory");
#endif
}

template <typename T, int D> struct SumLayout {
  static constexpr int kPitch = D + 8;  // elements per staged row (16 bytes of padding: no bank conflicts)
  static constexpr int kKeyBytes = kSumKeys * kPitch * int(sizeof(T));
  static constexpr int kQueryBytes = 2 * kSumQueries * kPitch * int(sizeof(T));  // two tiles, in turn
  // The keys' rows are needed only until the warps hold them; the queries reuse their memory.
  static constexpr int kBytes = kKeyBytes > kQueryBytes ? kKeyBytes : kQueryBytes;
};

// Copies rows [first, first + Rows) of a head (row r at base + r * token) into shared memory,
// kPitch elements apart, 16 bytes per copy; rows at or past `end` are zero. Not waited for.
template <typename T, int D, int Rows>
__device__ inline void stage_rows(T* dst, const T* base, std::int64_t token, int first, int end) {
  constexpr int kVec = 16 / int(sizeof(T)), kPerRow = D / kVec;
  static_assert(Rows * kPerRow % (32 * kSumWarps) == 0, "whole copies per thread");
#pragma unroll
  for (int n = 0; n < Rows * kPerRow / (32 * kSumWarps); ++n) {
    const int x = int(threadIdx.x) + n * 32 * kSumWarps, row = x / kPerRow, col = (x % kPerRow) * kVec;
    const bool valid = first + row < end;
    copy_16_async(dst + row * SumLayout<T, D>::kPitch + col, valid ? base + (first + row) * token + col : base, valid);
  }
}

// A thread block takes kSumKeys keys of one query head; each warp keeps 16 of them in registers
// (mma operand a over the head dimension) and multiplies them by tiles of kSumQueries queries
// staged in shared memory (two buffers in turn: the next tile's copies run while the warps work
// on this one, one barrier per tile), 8 queries per mma column. Each lane then holds 2 keys x 2
// queries of the products, adds exp(scale * q.k - lse) where the query sees the key into its two
// keys' sums, and the 4 lanes of a key add theirs up at the end. Positions are 32-bit (the
// launch checks that they fit).
template <typename T, int D>
__global__ void __launch_bounds__(32 * kSumWarps) window_sums_kernel(SumArgs a) {
  using Layout = SumLayout<T, D>;
  constexpr int kPitch = Layout::kPitch, kSteps = D / 16;
  __shared__ __align__(128) unsigned char shared[Layout::kBytes];
  T* staged = reinterpret_cast<T*>(shared);

  const int warp = int(threadIdx.x) / 32, lane = int(threadIdx.x) % 32, g = lane / 4, t = lane % 4;
  const int queries = int(a.queries), keys = int(a.keys), offset = int(a.offset), window = int(a.window);
  const int h = int(blockIdx.y), c0 = int(blockIdx.x) * kSumKeys;
  const int c_end = c0 + kSumKeys < keys ? c0 + kSumKeys : keys;
  const T* q = static_cast<const T*>(a.q) + h * a.q_head;
  const T* k = static_cast<const T*>(a.k) + (h / a.group) * a.k_head;

  // This warp's 16 keys, over the head dimension.
  stage_rows<T, D, kSumKeys>(staged, k, a.k_token, c0, keys);
  wait_copies();
  __syncthreads();
  unsigned key_part[kSteps][4];
  {
    const T* rows = staged + warp * 16 * kPitch;
#pragma unroll
    for (int s = 0; s < kSteps; ++s) {
      key_part[s][0] = pair_bits(rows + g * kPitch + s * 16 + 2 * t);
      key_part[s][1] = pair_bits(rows + (g + 8) * kPitch + s * 16 + 2 * t);
      key_part[s][2] = pair_bits(rows + g * kPitch + s * 16 + 2 * t + 8);
      key_part[s][3] = pair_bits(rows + (g + 8) * kPitch + s * 16 + 2 * t + 8);
    }
  }
  __syncthreads();  // the keys' rows are free again

  // Query i sees key j when 0 <= i - j + offset < window, i.e. j - offset <= i < j - offset + window.
  auto clamp = [&](int i) { return i < 0 ? 0 : i > queries ? queries : i; };
  const int lo = clamp(c0 - offset), hi = clamp(c_end - 1 - offset + window);
  const int j0 = c0 + warp * 16;
  // The queries any of this warp's keys needs (none when its keys are past the end); its keys
  // all there (the masks need no key bound).
  const bool has_keys = j0 < keys, all_keys = j0 + 16 <= keys;
  const int w_lo = j0 - offset, w_hi = j0 + 15 - offset + window;
  const float* row_lse = a.lse + h * a.queries;
  float sum[2] = {0.f, 0.f};  // keys j0 + g and j0 + g + 8

  if (lo < hi) stage_rows<T, D, kSumQueries>(staged, q, a.q_token, lo, hi);
  int buffer = 0;
  for (int s = lo; s < hi; s += kSumQueries, buffer ^= 1) {
    const T* tile_rows = staged + buffer * kSumQueries * kPitch;
    wait_copies();
    // This tile is in for all threads, and the other buffer's readers (the previous tile) are done.
    __syncthreads();
    if (s + kSumQueries < hi)
      stage_rows<T, D, kSumQueries>(staged + (buffer ^ 1) * kSumQueries * kPitch, q, a.q_token, s + kSumQueries, hi);
    if (!has_keys || s >= w_hi || s + kSumQueries <= w_lo) continue;
#pragma unroll 1
    for (int n = 0; n < kSumQueries / 8; ++n) {
      const int i0 = s + n * 8;  // this column tile's first query
      if (i0 >= hi || i0 >= w_hi || i0 + 8 <= w_lo) continue;
      float d[4] = {0.f, 0.f, 0.f, 0.f};
      const T* column = tile_rows + (n * 8 + g) * kPitch + 2 * t;
#pragma unroll
      for (int step = 0; step < kSteps; ++step) {
        const unsigned b[2] = {pair_bits(column + step * 16), pair_bits(column + step * 16 + 8)};
        mma_m16n8k16<T>(d, key_part[step], b);
      }
      // d[e]: key j0 + g + 8 * (e / 2), query i0 + 2t + e % 2, at distance i - j + offset:
      const int base = i0 + 2 * t - j0 - g + offset;
      // Every pair visible (queries before hi aside): the warp's keys all there, and the distances
      // of the whole 8 x 16 tile (i0 - j0 + offset - 15 .. i0 + 7 - j0 + offset) inside.
      const bool whole = all_keys && i0 - j0 + offset - 15 >= 0 && i0 + 7 - j0 + offset < window;
#pragma unroll
      for (int c = 0; c < 2; ++c) {
        const int i = i0 + 2 * t + c;
        if (i >= hi) continue;
        const float l = row_lse[i];
#pragma unroll
        for (int r = 0; r < 2; ++r) {
          const int dist = base + c - 8 * r;
          if (whole || (dist >= 0 && dist < window && j0 + g + 8 * r < keys))
            sum[r] += __expf(d[2 * r + c] * a.scale - l);
        }
      }
    }
  }

#pragma unroll
  for (int r = 0; r < 2; ++r) {
    float total = sum[r];
    total += __shfl_xor_sync(0xffffffffu, total, 1);
    total += __shfl_xor_sync(0xffffffffu, total, 2);
    const int j = j0 + g + 8 * r;
    if (t == 0 && j < keys) {
      float& out = a.score[h * a.score_stride + j];
      out = a.accumulate ? out + total : total;
    }
  }
}

}  // namespace
}  // namespace qread::kernels
