// Loading and storing the element types the kernels support (one at a time, or two as a Pair),
// with float arithmetic in between; choosing a kernel's instance for an ElementType; checking a
// launch.
#pragma once

#include "qread/kernels/rms_norm.hpp"  // ElementType

// The CPU emulation test (tests/kernels/cuda_emulation.hpp) provides these types and functions.
#ifndef QREAD_CUDA_EMULATION
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#endif

#include <stdexcept>
#include <string>

namespace qread::kernels {

template <typename T> __device__ inline float to_float(T v) { return static_cast<float>(v); }
template <> __device__ inline float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }
template <> __device__ inline float to_float(__half v) { return __half2float(v); }
template <typename T> __device__ inline T from_float(float v) { return static_cast<T>(v); }
template <> __device__ inline __nv_bfloat16 from_float(float v) { return __float2bfloat16(v); }
template <> __device__ inline __half from_float(float v) { return __float2half(v); }

#ifndef QREAD_CUDA_EMULATION
// The kernel's dynamic shared memory (its size given at launch) as an array of T.
template <typename T> __device__ inline T* dynamic_shared() {
  extern __shared__ __align__(16) unsigned char dynamic_shared_bytes[];
  return reinterpret_cast<T*>(dynamic_shared_bytes);
}
#endif

// Two elements of T in one load or store (needs an address aligned to two elements).
template <typename T> struct Pair;
template <> struct Pair<float> { using type = float2; };
template <> struct Pair<__nv_bfloat16> { using type = __nv_bfloat162; };
template <> struct Pair<__half> { using type = __half2; };

// V elements of T in one load or store (16 bytes for 8 bf16; needs an address aligned to them).
template <typename T, int V> struct alignas(V * sizeof(T)) Pack {
  T v[V];
};

template <typename T> struct Element {
  using type = T;
};
// Calls launch(Element<T>{}) with T the C++ type of `type` (float, __nv_bfloat16 or __half).
template <typename Launch> void with_element_type(ElementType type, Launch&& launch) {
  switch (type) {
    case ElementType::float32: launch(Element<float>{}); break;
    case ElementType::bfloat16: launch(Element<__nv_bfloat16>{}); break;
    case ElementType::float16: launch(Element<__half>{}); break;
  }
}

// Throws std::runtime_error naming `what` when the last launch failed.
inline void check_launch(const char* what) {
  if (cudaError_t err = cudaGetLastError(); err != cudaSuccess)
    throw std::runtime_error(std::string(what) + ": launch failed: " + cudaGetErrorString(err));
}

}  // namespace qread::kernels
