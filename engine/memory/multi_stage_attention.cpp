#include "memory/multi_stage_attention.hpp"

#include "common/torch_compat.hpp"
#include "model/fused_ops.hpp"

#include <ATen/ATen.h>

#include <cmath>
#include <limits>

namespace qread::memory {
namespace {

at::Tensor distance(std::int64_t queries, std::int64_t keys, std::int64_t offset, const at::Device& device) {
  auto opts = at::TensorOptions().dtype(at::kLong).device(device);
  return at::arange(queries, opts).unsqueeze(1) - at::arange(keys, opts).unsqueeze(0) + offset;
}

}  // namespace

at::Tensor window_mask(std::int64_t queries, std::int64_t keys, std::int64_t offset, std::int64_t width,
                       const at::Device& device) {
  auto dist = distance(queries, keys, offset, device);
  return (dist >= 0).logical_and(dist < width);
}

at::Tensor complement_window_mask(std::int64_t queries, std::int64_t keys, std::int64_t offset,
                                  std::int64_t width, const at::Device& device) {
  return distance(queries, keys, offset, device) >= width;
}

void MultiStageAttention::add_stage(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                    const at::Tensor& mask, bool want_score) {
  heads_ = q.size(1);
  kv_heads_ = k.size(1);
  queries_ = q.size(2);
  dim_ = q.size(3);
  dtype_ = q.scalar_type();
  const std::int64_t group = heads_ / kv_heads_, keys = k.size(2);
  // Grouped heads without copying K: the G query heads of a KV head become G * Tq rows. The
  // scale goes on the (small) queries rather than on the logits: one pass over them less.
  auto qg = (q * (1.0 / std::sqrt(double(dim_)))).reshape({kv_heads_, group * queries_, dim_});
  // Logits stay in the input dtype (the product's own precision); the softmax reads them into
  // float32.
  auto logits = at::matmul(qg, k.reshape({kv_heads_, keys, dim_}).transpose(1, 2)).view({heads_, queries_, keys});
  logits.masked_fill_(mask.logical_not(), -std::numeric_limits<float>::infinity());
  stages_.push_back({logits, v.reshape({kv_heads_, keys, dim_}), want_score, {}});
}

at::Tensor MultiStageAttention::finish() {
  std::vector<at::Tensor> all;
  for (const auto& s : stages_) all.push_back(s.logits);
  // One normalisation over every stage. Masked keys get exactly 0 (every query sees at least
  // one key, see the header), so the probabilities need no masking of their own.
  auto p = at::softmax(all.size() == 1 ? all.front() : at::cat(all, -1), -1, at::kFloat);
  const std::int64_t group = heads_ / kv_heads_;
  at::Tensor out;
  std::int64_t start = 0;
  for (auto& s : stages_) {
    const std::int64_t keys = s.logits.size(-1);
    auto ps = p.narrow(-1, start, keys);
    start += keys;
    if (s.want_score) s.score = ps.sum(1);
    if (keys == 0) continue;
    auto part = at::matmul(ps.to(s.v.scalar_type()).view({kv_heads_, group * queries_, keys}), s.v);
    out = out.defined() ? out.add_(part) : part;
  }
  if (!out.defined()) out = at::zeros({kv_heads_, group * queries_, dim_}, p.options().dtype(dtype_));
  return out.view({1, heads_, queries_, dim_}).to(dtype_);
}

std::pair<at::Tensor, at::Tensor> merge_attention(const at::Tensor& out_a, const at::Tensor& lse_a,
                                                  const at::Tensor& out_b, const at::Tensor& lse_b,
                                                  const at::Tensor& into) {
  auto fused = model::fused_merge_attention(out_a, lse_a, out_b, lse_b, into);
  if (fused.first.defined()) return fused;
  auto merged = compat::merge_attention(out_a, lse_a, out_b, lse_b);
  if (into.defined()) merged.first = into.copy_(merged.first);
  return merged;
}

}  // namespace qread::memory
