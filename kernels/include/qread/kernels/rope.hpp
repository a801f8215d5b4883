// Rotary position embedding, rotate-half form, fused: out = x * cos + rotate_half(x) * sin with
// rotate_half([a, b]) = [-b, a], computed in float and rounded once. The unfused form costs about
// eight tensor ops per call (cast, chunk, neg, cat, two multiplies, add, cast), twice per layer.
#pragma once

#include "qread/kernels/rms_norm.hpp"  // ElementType

#include <cstdint>

namespace qread::kernels {

// x: `heads` x `tokens` rows of `dim` elements, row (h, t) starting at x + h * head_stride +
// t * token_stride (elements; each row contiguous). cos, sin: float [tokens, dim], the angles of
// each token's position. out: contiguous [heads, tokens, dim]. dim must be even.
void rope_reference(const float* x, std::int64_t head_stride, std::int64_t token_stride, const float* cos,
                    const float* sin, float* out, std::int64_t heads, std::int64_t tokens, std::int64_t dim);

#ifdef QREAD_WITH_CUDA
// The same on device pointers; x and out share `type`. Token t's angles are at cos/sin +
// t * angle_stride (dim when negative; 0: every token at the same angles). Throws
// std::runtime_error on a launch error.
void rope_cuda(const void* x, std::int64_t head_stride, std::int64_t token_stride, const float* cos,
               const float* sin, void* out, std::int64_t heads, std::int64_t tokens, std::int64_t dim,
               ElementType type, void* stream, std::int64_t angle_stride = -1);
#endif

}  // namespace qread::kernels
