// Loading and storing the element types the kernels support (one at a time, or two as a Pair),
// with float arithmetic in between; choosing a kernel's instance for an ElementType; checking a
// launch.
#pragma once

#include "qread/kernels/rms_norm.hpp"  // ElementType

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

namespace qread::kernels {

template <typename T> __device__ inline float to_float(T v) { return static_cast<float>(v); }
template <> __device__ inline float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }
template <> __device__ inline float to_float(__half v) { return __half2float(v); }
template <typename T> __device__ inline T from_float(float v) { return static_cast<T>(v); }
template <> __device__ inline __nv_bfloat16 from_float(float v) { return __float2bfloat16(v); }
template <> __device__ inline __half from_float(float v) { return __float2half(v); }

// Two elements of T in one load or store (needs an address aligned to two elements).
template <typename T> struct Pair;
template <> struct Pair<float> { using type = float2; };
template <> struct Pair<__nv_bfloat16> { using type = __nv_bfloat162; };
template <> struct Pair<__half> { using type = __half2; };

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
