#include "common/torch_compat.hpp"

#include <ATen/ATen.h>

#include <limits>
#include <vector>

namespace qread::compat {
namespace {

// Boolean mask where query i (of Tq, placed at the end of Tk keys) may see key j.
at::Tensor end_aligned_causal_mask(int64_t tq, int64_t tk, const at::Device& device) {
  auto rows = at::arange(tq, at::TensorOptions().dtype(at::kLong).device(device)).unsqueeze(1);
  auto cols = at::arange(tk, at::TensorOptions().dtype(at::kLong).device(device)).unsqueeze(0);
  return cols <= rows + (tk - tq);
}

at::Tensor combine_masks(const std::optional<at::Tensor>& mask, const at::Tensor& causal_mask,
                         const at::Tensor& q) {
  if (!mask) return causal_mask;
  if (mask->scalar_type() == at::kBool) return mask->logical_and(causal_mask);
  // Additive mask: blocked causal positions become -inf.
  auto neg_inf = at::full({}, -std::numeric_limits<float>::infinity(), q.options());
  return at::where(causal_mask, mask->to(q.scalar_type()), neg_inf);
}

// Grouped KV heads repeated to match the query heads: [B, Hkv, S, D] -> [B, Hkv * group, S, D].
at::Tensor repeat_kv(const at::Tensor& x, int64_t group) {
  if (group == 1) return x;
  const auto B = x.size(0), H = x.size(1), S = x.size(2), D = x.size(3);
  return x.unsqueeze(2).expand({B, H, group, S, D}).reshape({B, H * group, S, D});
}

// Attention spelled out: matmul, mask, softmax, matmul. Queries go in blocks so that the score
// matrix stays under ~64 MB however long the sequence (a 32K prompt on the CPU would otherwise
// need 4 GB per layer for it).
at::Tensor explicit_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                              const std::optional<at::Tensor>& mask, double scale) {
  const int64_t tq = q.size(-2), tk = k.size(-2), rows = q.numel() / q.size(-1);
  const int64_t block = std::max<int64_t>(1, (int64_t(1) << 24) / std::max<int64_t>(1, tk * (rows / tq)));
  if (tq > block) {
    std::vector<at::Tensor> parts;
    for (int64_t start = 0; start < tq; start += block) {
      const int64_t n = std::min(block, tq - start);
      std::optional<at::Tensor> part_mask = mask;
      if (mask && mask->dim() >= 2 && mask->size(-2) == tq) part_mask = mask->narrow(-2, start, n);
      parts.push_back(explicit_attention(q.narrow(-2, start, n), k, v, part_mask, scale));
    }
    return at::cat(parts, -2);
  }
  // Scaling the queries rather than the scores, and a softmax that accumulates in float from the
  // input dtype, keep the op count low: decode runs this once per layer and token.
  auto scores = at::matmul(q * scale, k.transpose(-2, -1));
  if (mask) {
    if (mask->scalar_type() == at::kBool)
      scores.masked_fill_(mask->logical_not(), -std::numeric_limits<float>::infinity());
    else
      scores = scores.to(at::kFloat) + mask->to(at::kFloat);
  }
  auto probs = at::softmax(scores, -1, at::kFloat);
  return at::matmul(v.scalar_type() == at::kFloat ? probs : probs.to(v.scalar_type()), v);
}

}  // namespace

at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                     const std::optional<at::Tensor>& mask, bool causal, double scale) {
  const int64_t tq = q.size(-2), tk = k.size(-2);
  const int64_t group = q.size(1) / k.size(1);
  TORCH_CHECK(q.size(1) == k.size(1) * group, "attention: query heads ", q.size(1),
              " not a multiple of KV heads ", k.size(1));
  if (group > 1 && tq == 1 && !mask) {
    // One query per head sees every key: fold the heads of a group into the query axis so the
    // cache is read once per KV head instead of being copied group times.
    const auto B = q.size(0), Hkv = k.size(1), D = q.size(3);
    auto out = attention(q.reshape({B, Hkv, group, D}), k, v, std::nullopt, false, scale);
    return out.reshape({B, Hkv * group, 1, D});
  }
  if (group > 1) return attention(q, repeat_kv(k, group), repeat_kv(v, group), mask, causal, scale);
  std::optional<at::Tensor> full_mask = mask;
  if (causal) full_mask = combine_masks(mask, end_aligned_causal_mask(tq, tk, q.device()), q);
#if QREAD_TORCH_2
  // A few queries (decode): plain matmuls. The fused kernels gain nothing there, and some of
  // them (cuDNN's) plan per key length, which changes at every step.
  if (tq > 8) {
    // The fused kernels' own is_causal aligns the diagonal to the start, so pass an explicit
    // mask unless the shapes are square (where both alignments agree).
    if (causal && !mask && tq == tk)
      return at::scaled_dot_product_attention(q, k, v, {}, 0.0, true, scale);
    return at::scaled_dot_product_attention(q, k, v, full_mask, 0.0, false, scale);
  }
#endif
  return explicit_attention(q, k, v, full_mask, scale);
}

const char* torch_version() { return TORCH_VERSION; }

}  // namespace qread::compat
