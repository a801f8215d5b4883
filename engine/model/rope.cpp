#include "model/rope.hpp"

#include "model/fused_ops.hpp"

#include <ATen/ATen.h>

#include <cmath>

namespace qread::model {
namespace {

at::Tensor rotate_half(const at::Tensor& x) {
  auto halves = x.chunk(2, -1);
  return at::cat({halves[1].neg(), halves[0]}, -1);
}

}  // namespace

Rope::Rope(const ModelConfig& config, std::optional<double> base_override,
           std::optional<double> distance_scale, const at::Device& device, bool use_scaling)
    : head_dim_(config.head_dim),
      base_(base_override.value_or(config.rope_theta)),
      distance_scale_(distance_scale.value_or(1.0)),
      scaling_(use_scaling ? config.rope_scaling : RopeScaling{}),
      max_position_embeddings_(config.max_position_embeddings),
      device_(device) {
  auto f32 = at::TensorOptions().dtype(at::kFloat);
  // 1 / base^(2i/D), computed in float32 as both Hugging Face and the reference do.
  auto exponent = at::arange(0, head_dim_, 2, at::TensorOptions().dtype(at::kLong)).to(at::kFloat) /
                  double(head_dim_);
  auto inv_freq = 1.0 / at::pow(at::scalar_tensor(base_, f32), exponent);
  if (scaling_.kind == RopeScaling::Kind::linear) {
    inv_freq = inv_freq / scaling_.factor;
  } else if (scaling_.kind == RopeScaling::Kind::llama3) {
    // Llama 3.1: long wavelengths are slowed by `factor`, short ones kept, the band between
    // interpolated smoothly.
    const double old_len = double(scaling_.original_max_position_embeddings);
    const double low_wavelen = old_len / scaling_.low_freq_factor;
    const double high_wavelen = old_len / scaling_.high_freq_factor;
    auto wavelen = 2 * M_PI / inv_freq;
    auto scaled = at::where(wavelen > low_wavelen, inv_freq / scaling_.factor, inv_freq);
    auto smooth = (old_len / wavelen - scaling_.low_freq_factor) /
                  (scaling_.high_freq_factor - scaling_.low_freq_factor);
    auto smoothed = (1 - smooth) * scaled / scaling_.factor + smooth * scaled;
    auto medium = (wavelen >= high_wavelen).logical_and(wavelen <= low_wavelen);
    inv_freq = at::where(medium, smoothed, scaled);
  }
  inv_freq_ = inv_freq.to(device_);
}

at::Tensor Rope::inv_freq_for(std::int64_t seq_len) const {
  if (scaling_.kind != RopeScaling::Kind::dynamic || seq_len <= max_position_embeddings_)
    return inv_freq_;
  // Dynamic NTK: a larger base once the sequence outgrows the trained window.
  const double D = double(head_dim_);
  const double base = base_ * std::pow(scaling_.factor * double(seq_len) / double(max_position_embeddings_) -
                                           (scaling_.factor - 1),
                                       D / (D - 2));
  auto f32 = at::TensorOptions().dtype(at::kFloat);
  auto exponent = at::arange(0, head_dim_, 2, at::TensorOptions().dtype(at::kLong)).to(at::kFloat) / D;
  return (1.0 / at::pow(at::scalar_tensor(base, f32), exponent)).to(device_);
}

void Rope::grow(std::int64_t length) const {
  if (length <= cached_) return;
  std::int64_t n = std::max<std::int64_t>(4096, cached_);
  while (n < length) n *= 2;
  auto t = at::arange(n, at::TensorOptions().dtype(at::kFloat).device(device_)) * distance_scale_;
  auto freqs = at::outer(t, inv_freq_);
  auto emb = at::cat({freqs, freqs}, -1);
  cos_ = emb.cos();
  sin_ = emb.sin();
  cached_ = n;
}

std::pair<at::Tensor, at::Tensor> Rope::cos_sin(std::int64_t start, std::int64_t length) const {
  const std::int64_t end = start + length;
  if (scaling_.kind == RopeScaling::Kind::dynamic && end > max_position_embeddings_) {
    // The base depends on the sequence length: compute just these rows.
    auto t = at::arange(start, end, at::TensorOptions().dtype(at::kFloat).device(device_)) * distance_scale_;
    auto freqs = at::outer(t, inv_freq_for(end));
    auto emb = at::cat({freqs, freqs}, -1);
    return {emb.cos(), emb.sin()};
  }
  grow(end);
  return {cos_.narrow(0, start, length), sin_.narrow(0, start, length)};
}

bool Rope::fixed_table(std::int64_t length) const {
  return scaling_.kind != RopeScaling::Kind::dynamic || length <= max_position_embeddings_;
}

at::Tensor Rope::apply_rows(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) const {
  if (auto fused = fused_rope(x, cos, sin); fused.defined()) return fused;
  auto xf = x.to(at::kFloat);
  return (xf * cos + rotate_half(xf) * sin).to(x.scalar_type());
}

at::Tensor Rope::apply(const at::Tensor& x, std::int64_t start) const {
  auto [cos, sin] = cos_sin(start, x.size(-2));
  return apply_rows(x, cos, sin);
}

at::Tensor Rope::apply_one(const at::Tensor& x, std::int64_t position) const {
  // Every row at the same angle: the kernel reads the one row of cos/sin for each token (and the
  // tensor ops broadcast it).
  auto [cos, sin] = cos_sin(position, 1);
  return apply_rows(x, cos, sin);
}

}  // namespace qread::model
