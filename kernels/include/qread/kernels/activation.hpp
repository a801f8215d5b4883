// The MLP's activation, SiLU(gate) * up, in one pass over the two halves of the gate/up product.
// In ATen it is two in-place ops (silu_, mul_) over strided views (the halves of [T, 2I] rows),
// which take its element-at-a-time kernel: on the 100K prefill of the Llama-3-8B shape, two
// passes over 235 MB per layer and chunk.
#pragma once

#include "qread/kernels/rms_norm.hpp"  // ElementType

#include <cstdint>

namespace qread::kernels {

#ifdef QREAD_WITH_CUDA
// gate[r][c] = round(round(silu(gate[r][c])) * up[r][c]) for r < rows, c < cols, rows
// `row_stride` elements apart in both; silu(x) = x / (1 + exp(-x)) in float, rounded to `type`
// before the product as ATen's silu_ then mul_ round it. 16-byte loads where the rows allow them.
void silu_mul_cuda(void* gate, const void* up, std::int64_t rows, std::int64_t cols, std::int64_t row_stride,
                   ElementType type, void* stream);
#endif

}  // namespace qread::kernels
