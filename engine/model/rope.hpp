// Rotary position embedding, rotate-half form (as Hugging Face Llama/Mistral/Qwen2 and the Q-LLM
// reference use it). Frequencies follow the model's rope_theta and rope_scaling; the YAML config
// may override the base and scale distances (`base`, `distance_scale`, as the reference allows).
#pragma once

#include "model/model_config.hpp"

#include <ATen/core/Tensor.h>

#include <optional>

namespace qread::model {

class Rope {
 public:
  // `use_scaling` false ignores the config's rope_scaling: the reference's context-memory modes
  // replace the model's RoPE with a plain one of the same (or overridden) base.
  Rope(const ModelConfig& config, std::optional<double> base_override,
       std::optional<double> distance_scale, const at::Device& device, bool use_scaling = true);

  // x: [..., T, D]; rotated as if its T rows sit at positions start .. start + T - 1.
  // Computed in float32 and returned in x's dtype.
  at::Tensor apply(const at::Tensor& x, std::int64_t start) const;
  // x: [..., T, D]; every row rotated by the one angle of `position` (the reference uses this for
  // memory keys and global queries).
  at::Tensor apply_one(const at::Tensor& x, std::int64_t position) const;

  // cos and sin for positions [start, start + length): float32 [length, D].
  std::pair<at::Tensor, at::Tensor> cos_sin(std::int64_t start, std::int64_t length) const;
  // x: [..., T, D] rotated by the given cos and sin rows ([T, D] float32, as cos_sin gives).
  at::Tensor apply_rows(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) const;
  // Whether cos_sin(0, length) is a fixed table (false for dynamic NTK scaling past the trained
  // window, where the angles depend on the sequence length).
  bool fixed_table(std::int64_t length) const;

  std::int64_t head_dim() const { return head_dim_; }

 private:
  at::Tensor inv_freq_for(std::int64_t seq_len) const;
  void grow(std::int64_t length) const;

  std::int64_t head_dim_;
  double base_;
  double distance_scale_;
  RopeScaling scaling_;
  std::int64_t max_position_embeddings_;
  at::Device device_;
  at::Tensor inv_freq_;  // float32 [D/2], after llama3/linear scaling
  // Tables for positions [0, cached_), grown by doubling.
  mutable at::Tensor cos_, sin_;
  mutable std::int64_t cached_ = 0;
};

}  // namespace qread::model
