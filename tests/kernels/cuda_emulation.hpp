// Runs CUDA kernel source on the CPU, to check a kernel's logic (indexing, masks, tiling, the
// order of its barriers) where no GPU is present. A thread block is one std::thread per CUDA
// thread, the blocks of a grid one after another; __shared__ arrays are statics (one block runs
// at a time); __syncthreads and __syncwarp are barriers; shuffles go through an exchange array;
// WMMA fragments hold their whole 16 x 16 tile in every lane (a fragment's layout across lanes is
// unspecified, so kernels may not depend on it). Not emulated: the memory model beyond the
// barriers, timing, and anything the kernels under test do not use.
// Include before the kernels' .cuh files, with QREAD_CUDA_EMULATION defined.
#pragma once

#ifndef QREAD_CUDA_EMULATION
#error "define QREAD_CUDA_EMULATION before including cuda_emulation.hpp"
#endif

#include <atomic>
#include <barrier>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <thread>
#include <type_traits>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(threads)
#define __shared__ static
#define __align__(n) __attribute__((aligned(n)))

using std::isfinite;
using std::isnan;

struct dim3 {
  unsigned x = 1, y = 1, z = 1;
};
inline thread_local dim3 threadIdx, blockIdx;
inline dim3 blockDim, gridDim;

struct uint4 {
  unsigned x, y, z, w;
};
inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return {x, y, z, w}; }
struct float2 {
  float x, y;
};
struct float4 {
  float x, y, z, w;
};

// 16-bit floating-point types as their bits; conversions round to nearest even.
struct __nv_bfloat16 {
  std::uint16_t bits;
};
struct __half {
  std::uint16_t bits;
};
struct __nv_bfloat162 {
  __nv_bfloat16 x, y;
};
struct __half2 {
  __half x, y;
};
inline float __bfloat162float(__nv_bfloat16 v) { return std::bit_cast<float>(std::uint32_t(v.bits) << 16); }
inline __nv_bfloat16 __float2bfloat16(float f) {
  std::uint32_t u = std::bit_cast<std::uint32_t>(f);
  if (std::isnan(f)) return {std::uint16_t((u >> 16) | 0x40)};
  u += 0x7fff + ((u >> 16) & 1);
  return {std::uint16_t(u >> 16)};
}
inline float __half2float(__half v) { return float(std::bit_cast<_Float16>(v.bits)); }
inline __half __float2half(float f) { return {std::bit_cast<std::uint16_t>(_Float16(f))}; }

inline float __expf(float x) { return std::exp(x); }

using cudaError_t = int;
constexpr cudaError_t cudaSuccess = 0;
inline cudaError_t cudaGetLastError() { return cudaSuccess; }
inline const char* cudaGetErrorString(cudaError_t) { return "emulated"; }

namespace cuda_emulation {
struct Block {
  std::unique_ptr<std::barrier<>> all;
  std::vector<std::unique_ptr<std::barrier<>>> warps;
  std::vector<std::uint64_t> exchange;  // one slot per thread, for shuffles
};
inline Block block;
}  // namespace cuda_emulation

inline void __syncthreads() { cuda_emulation::block.all->arrive_and_wait(); }
inline void __syncwarp(unsigned = 0xffffffffu) { cuda_emulation::block.warps[threadIdx.x / 32]->arrive_and_wait(); }

// Lane `from(lane)`'s v, for every lane of the warp (all 32 take part).
template <typename T, typename From> T cuda_emulation_shuffle(T v, From from) {
  static_assert(sizeof(T) <= sizeof(std::uint64_t));
  auto& exchange = cuda_emulation::block.exchange;
  const unsigned lane = threadIdx.x % 32, base = threadIdx.x - lane;
  __syncwarp();
  std::memcpy(&exchange[threadIdx.x], &v, sizeof(T));
  __syncwarp();
  T out;
  std::memcpy(&out, &exchange[base + from(lane)], sizeof(T));
  __syncwarp();
  return out;
}
template <typename T> T __shfl_xor_sync(unsigned, T v, int mask) {
  return cuda_emulation_shuffle(v, [&](unsigned lane) { return lane ^ unsigned(mask); });
}
template <typename T> T __shfl_down_sync(unsigned, T v, int delta) {
  return cuda_emulation_shuffle(v, [&](unsigned lane) { return lane + unsigned(delta) < 32 ? lane + unsigned(delta) : lane; });
}
template <typename T> T atomicAdd(T* address, T v) { return std::atomic_ref<T>(*address).fetch_add(v); }

// Dynamic shared memory: one buffer (one block runs at a time).
template <typename T> T* dynamic_shared() {
  alignas(16) static unsigned char bytes[228 * 1024];
  return reinterpret_cast<T*>(bytes);
}

namespace nvcuda::wmma {
struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
enum layout_t { mem_row_major, mem_col_major };

template <typename Use, int M, int N, int K, typename T, typename Layout = void> struct fragment {
  static_assert(M == 16 && N == 16 && K == 16, "16 x 16 x 16 tiles only");
  float tile[16][16];
};

template <typename T> float element(T v) {
  if constexpr (std::is_same_v<T, __nv_bfloat16>) return __bfloat162float(v);
  else if constexpr (std::is_same_v<T, __half>) return __half2float(v);
  else return float(v);
}

template <typename Use, typename T, typename Layout>
void load_matrix_sync(fragment<Use, 16, 16, 16, T, Layout>& f, const T* p, unsigned ldm) {
  __syncwarp();
  for (unsigned r = 0; r < 16; ++r)
    for (unsigned c = 0; c < 16; ++c)
      f.tile[r][c] = element(std::is_same_v<Layout, row_major> ? p[r * ldm + c] : p[c * ldm + r]);
  __syncwarp();
}
template <typename T, typename LayoutA, typename LayoutB>
void mma_sync(fragment<accumulator, 16, 16, 16, float>& d, const fragment<matrix_a, 16, 16, 16, T, LayoutA>& a,
              const fragment<matrix_b, 16, 16, 16, T, LayoutB>& b, const fragment<accumulator, 16, 16, 16, float>& c) {
  float out[16][16];
  for (int r = 0; r < 16; ++r)
    for (int col = 0; col < 16; ++col) {
      float sum = c.tile[r][col];
      for (int k = 0; k < 16; ++k) sum += a.tile[r][k] * b.tile[k][col];
      out[r][col] = sum;
    }
  std::memcpy(d.tile, out, sizeof out);
}
inline void fill_fragment(fragment<accumulator, 16, 16, 16, float>& f, float v) {
  for (auto& row : f.tile)
    for (auto& x : row) x = v;
}
inline void store_matrix_sync(float* p, const fragment<accumulator, 16, 16, 16, float>& f, unsigned ldm, layout_t layout) {
  __syncwarp();
  if (threadIdx.x % 32 == 0)
    for (unsigned r = 0; r < 16; ++r)
      for (unsigned c = 0; c < 16; ++c) (layout == mem_row_major ? p[r * ldm + c] : p[c * ldm + r]) = f.tile[r][c];
  __syncwarp();
}
}  // namespace nvcuda::wmma

namespace cuda_emulation {
// Runs `kernel()` (a call of the kernel with its arguments) over `grid` in blocks of `threads`
// threads (a multiple of 32), one block after another.
template <typename Kernel> void launch(dim3 grid, unsigned threads, Kernel kernel) {
  blockDim = {threads, 1, 1};
  gridDim = grid;
  block.all = std::make_unique<std::barrier<>>(threads);
  block.warps.clear();
  for (unsigned w = 0; w < threads / 32; ++w) block.warps.push_back(std::make_unique<std::barrier<>>(32));
  block.exchange.assign(threads, 0);
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      threadIdx = {t, 0, 0};
      for (unsigned z = 0; z < grid.z; ++z)
        for (unsigned y = 0; y < grid.y; ++y)
          for (unsigned x = 0; x < grid.x; ++x) {
            blockIdx = {x, y, z};
            kernel();
            __syncthreads();  // the next block reuses the shared memory
          }
    });
  for (auto& thread : pool) thread.join();
}
}  // namespace cuda_emulation
