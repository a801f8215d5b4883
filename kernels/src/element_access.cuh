// Loading and storing the element types the kernels support, with float arithmetic in between.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

namespace qread::kernels {

template <typename T> __device__ inline float to_float(T v) { return static_cast<float>(v); }
template <> __device__ inline float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }
template <> __device__ inline float to_float(__half v) { return __half2float(v); }
template <typename T> __device__ inline T from_float(float v) { return static_cast<T>(v); }
template <> __device__ inline __nv_bfloat16 from_float(float v) { return __float2bfloat16(v); }
template <> __device__ inline __half from_float(float v) { return __float2half(v); }

}  // namespace qread::kernels
