// RMSNorm over the last dimension: out[r][c] = x[r][c] / sqrt(mean_c(x[r]^2) + eps) * weight[c].
// This is the normalisation of every Llama-family block; fusing it into one pass saves the
// four separate tensor ops (pow, mean, rsqrt, mul) per call at decode time.
#pragma once

#include <cstdint>

namespace qread::kernels {

enum class ElementType { float32, bfloat16, float16 };

// Plain C++ reference on the CPU, float32, accumulation in double. Rows are contiguous.
void rms_norm_reference(const float* x, const float* weight, float* out, std::int64_t rows,
                        std::int64_t cols, float eps);

#ifdef QREAD_WITH_CUDA
// CUDA version on device pointers; x, weight and out share `type`; accumulation in float.
// `stream` is a cudaStream_t (nullptr: the default stream). Throws std::runtime_error on a
// launch error or unsupported shape.
void rms_norm_cuda(const void* x, const void* weight, void* out, std::int64_t rows,
                   std::int64_t cols, float eps, ElementType type, void* stream);
#endif

}  // namespace qread::kernels
