#include "qread/kernels/rms_norm.hpp"

#include <cmath>

namespace qread::kernels {

void rms_norm_reference(const float* x, const float* weight, float* out, std::int64_t rows,
                        std::int64_t cols, float eps) {
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* row = x + r * cols;
    double sum_sq = 0.0;
    for (std::int64_t c = 0; c < cols; ++c) sum_sq += double(row[c]) * double(row[c]);
    const double inv_rms = 1.0 / std::sqrt(sum_sq / double(cols) + double(eps));
    for (std::int64_t c = 0; c < cols; ++c)
      out[r * cols + c] = float(double(row[c]) * inv_rms * double(weight[c]));
  }
}

}  // namespace qread::kernels
