#include "qread/kernels/rope.hpp"

namespace qread::kernels {

void rope_reference(const float* x, std::int64_t head_stride, std::int64_t token_stride, const float* cos,
                    const float* sin, float* out, std::int64_t heads, std::int64_t tokens, std::int64_t dim) {
  const std::int64_t half = dim / 2;
  for (std::int64_t h = 0; h < heads; ++h)
    for (std::int64_t t = 0; t < tokens; ++t) {
      const float* row = x + h * head_stride + t * token_stride;
      const float* c = cos + t * dim;
      const float* s = sin + t * dim;
      float* o = out + (h * tokens + t) * dim;
      for (std::int64_t i = 0; i < half; ++i) {
        o[i] = row[i] * c[i] - row[i + half] * s[i];
        o[i + half] = row[i + half] * c[i + half] + row[i] * s[i + half];
      }
    }
}

}  // namespace qread::kernels
