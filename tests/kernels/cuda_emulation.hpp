// Runs CUDA kernel source on the CPU, to check a kernel's logic (indexing, masks, tiling, the
// order of its barriers) where no GPU is present. A thread block is one std::thread per CUDA
// thread, the blocks of a grid one after another; __shared__ arrays are statics (one block runs
// at a time); __syncthreads and __syncwarp are barriers; shuffles go through an exchange array;
// mma.m16n8k16 gathers its operands from the warp's lanes in the PTX ISA's layout. Not emulated:
// the memory model beyond the barriers, timing, and anything the kernels under test do not use.
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
#define __launch_bounds__(...)
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
  struct Operands {
    unsigned a[4], b[2];
  };
  std::vector<Operands> operands;  // one per thread, for mma
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

namespace cuda_emulation {
template <typename T> float element(T v) {
  if constexpr (std::is_same_v<T, __nv_bfloat16>) return __bfloat162float(v);
  else if constexpr (std::is_same_v<T, __half>) return __half2float(v);
  else return float(v);
}
// Element `high` (0: the low 16 bits) of a register holding two T.
template <typename T> float half_of(unsigned bits, int high) {
  return element(T{std::uint16_t(high ? bits >> 16 : bits & 0xffffu)});
}
}  // namespace cuda_emulation

// mma.sync.aligned.m16n8k16.row.col.f32.{bf16,f16} with the PTX ISA's layout over the lanes: with
// g = lane / 4 and t = lane % 4, a holds rows g (a[0], a[2]) and g + 8 (a[1], a[3]) at columns
// 2t, 2t + 1 (a[0], a[1]) and 2t + 8, 2t + 9 (a[2], a[3]); b holds column g at rows 2t, 2t + 1
// (b[0]) and 2t + 8, 2t + 9 (b[1]); d holds rows g (d[0], d[1]) and g + 8 (d[2], d[3]) at
// columns 2t, 2t + 1. Products summed in float, in k order.
template <typename T> void mma_m16n8k16(float (&d)[4], const unsigned (&a)[4], const unsigned (&b)[2]) {
  using cuda_emulation::half_of;
  auto& all = cuda_emulation::block.operands;
  const unsigned lane = threadIdx.x % 32, base = threadIdx.x - lane;
  __syncwarp();
  all[threadIdx.x] = {{a[0], a[1], a[2], a[3]}, {b[0], b[1]}};
  __syncwarp();
  float A[16][16], B[16][8];
  for (unsigned l = 0; l < 32; ++l) {
    const auto& o = all[base + l];
    const unsigned g = l / 4, t = l % 4;
    for (int h = 0; h < 2; ++h) {
      A[g][2 * t + h] = half_of<T>(o.a[0], h);
      A[g + 8][2 * t + h] = half_of<T>(o.a[1], h);
      A[g][2 * t + 8 + h] = half_of<T>(o.a[2], h);
      A[g + 8][2 * t + 8 + h] = half_of<T>(o.a[3], h);
      B[2 * t + h][g] = half_of<T>(o.b[0], h);
      B[2 * t + 8 + h][g] = half_of<T>(o.b[1], h);
    }
  }
  __syncwarp();
  const unsigned g = lane / 4, t = lane % 4;
  for (int e = 0; e < 4; ++e) {
    const unsigned row = g + 8 * unsigned(e / 2), col = 2 * t + unsigned(e % 2);
    float sum = d[e];
    for (int k = 0; k < 16; ++k) sum += A[row][k] * B[k][col];
    d[e] = sum;
  }
}

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
  block.operands.assign(threads, {});
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
