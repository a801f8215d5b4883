#include "common/torch_compat.hpp"

#include <ATen/ATen.h>

#include <atomic>
#include <cstdlib>
#include <limits>
#include <string_view>
#include <vector>

namespace qread::compat {
namespace {

// Boolean mask where query i (of Tq, placed at the end of Tk keys) may see key j.
// Query i sees keys up to tk - tq + i (the diagonal aligned to the end of the keys); with
// window > 0, only the `window` keys ending there.
at::Tensor end_aligned_causal_mask(int64_t tq, int64_t tk, const at::Device& device, int64_t window = 0) {
  auto rows = at::arange(tq, at::TensorOptions().dtype(at::kLong).device(device)).unsqueeze(1);
  auto cols = at::arange(tk, at::TensorOptions().dtype(at::kLong).device(device)).unsqueeze(0);
  auto mask = cols <= rows + (tk - tq);
  return window > 0 ? mask.logical_and(cols > rows + (tk - tq) - window) : mask;
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

namespace {

// -1: not decided yet (read QREAD_FUSED_ATTENTION on first use), 0: off, 1: on.
std::atomic<int> g_fused{-1};
std::atomic<bool> g_reference_on_cpu{false};

// flash_attention's {out, lse} by tensor ops, in float: the CPU stand-in for tests.
std::pair<at::Tensor, at::Tensor> reference_flash(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                                  bool causal, int64_t window, double scale) {
  const int64_t tq = q.size(2), tk = k.size(2), group = q.size(1) / k.size(1);
  auto scores = at::matmul(q.to(at::kFloat), repeat_kv(k, group).to(at::kFloat).transpose(-1, -2)) * scale;
  if (causal)  // the caller has checked that a window comes with it
    scores.masked_fill_(end_aligned_causal_mask(tq, tk, q.device(), window).logical_not(),
                        -std::numeric_limits<float>::infinity());
  auto lse = at::logsumexp(scores, -1);
  auto safe = at::where(at::isinf(lse), at::zeros_like(lse), lse);
  auto p = at::exp(scores - safe.unsqueeze(-1));
  auto out = at::matmul(p, repeat_kv(v, group).to(at::kFloat)).to(q.scalar_type());
  return {out, lse};
}

bool env_off(const char* name) {
  const char* value = std::getenv(name);
  return value && std::string_view(value) == "0";
}

#if QREAD_TORCH_2
// cuDNN's attention (the fastest on Hopper) when this LibTorch and cuDNN have it, learnt on first
// use: with grouped KV heads as they are, with them repeated, or not at all.
enum class Cudnn { untried, grouped, repeated, unavailable };
std::atomic<Cudnn> g_cudnn{Cudnn::untried};

std::optional<std::pair<at::Tensor, at::Tensor>> cudnn_attention(const at::Tensor& q, const at::Tensor& k,
                                                                 const at::Tensor& v, bool causal, double scale) {
  static const bool disabled = env_off("QREAD_CUDNN_ATTENTION");
  if (disabled) return std::nullopt;
  auto call = [&](const at::Tensor& kk, const at::Tensor& vv) {
    auto r = at::_scaled_dot_product_cudnn_attention(q, kk, vv, std::nullopt, true, 0.0, causal, false, scale);
    return std::make_pair(std::get<0>(r), std::get<1>(r).reshape({q.size(0), q.size(1), q.size(2)}));
  };
  const int64_t group = q.size(1) / k.size(1);
  auto state = g_cudnn.load();
  if (state == Cudnn::untried || state == Cudnn::grouped) {
    try {
      auto r = call(k, v);
      g_cudnn = Cudnn::grouped;
      return r;
    } catch (const c10::Error&) {
      if (state == Cudnn::grouped) return std::nullopt;  // this shape only
      state = Cudnn::repeated;
    }
  }
  if (state == Cudnn::repeated && group > 1) {
    try {
      auto r = call(repeat_kv(k, group), repeat_kv(v, group));
      g_cudnn = Cudnn::repeated;
      return r;
    } catch (const c10::Error&) {
    }
  }
  if (g_cudnn.load() == Cudnn::untried) g_cudnn = Cudnn::unavailable;
  return std::nullopt;
}
#endif

}  // namespace

void set_fused_attention(bool on) { g_fused = on ? 1 : 0; }

void set_reference_flash_on_cpu(bool on) { g_reference_on_cpu = on; }

bool fused_attention() {
  int value = g_fused.load();
  if (value < 0) g_fused = value = env_off("QREAD_FUSED_ATTENTION") ? 0 : 1;
  return value == 1;
}

std::optional<std::pair<at::Tensor, at::Tensor>> flash_attention(const at::Tensor& q, const at::Tensor& k,
                                                                 const at::Tensor& v, bool causal,
                                                                 std::int64_t window, double scale,
                                                                 bool allow_cudnn) {
  if (!q.is_cuda() && g_reference_on_cpu.load() && fused_attention() && (window <= 0 || causal) && k.size(-2) > 0)
    return reference_flash(q, k, v, causal, window, scale);
#if QREAD_TORCH_2
  const auto type = q.scalar_type();
  const int64_t d = q.size(-1);
  if (!fused_attention() || !q.is_cuda() || (type != at::kHalf && type != at::kBFloat16) ||
      k.scalar_type() != type || v.scalar_type() != type || d % 8 != 0 || d > 256 || q.size(1) % k.size(1) != 0 ||
      k.size(-2) == 0 || q.stride(-1) != 1 || k.stride(-1) != 1 || v.stride(-1) != 1 || (window > 0 && !causal))
    return std::nullopt;
  // Without a window, a square causal or an unmasked problem may go to cuDNN, faster on Hopper
  // (H100, 8B shape: dense prefill of 100K in 7.8 s, against 10.7 s with flash alone), though it
  // plans once per shape (32K in 8K chunks: 2.2 s against 1.8 s).
  if (allow_cudnn && window <= 0 && (!causal || q.size(2) == k.size(2)))
    if (auto r = cudnn_attention(q, k, v, causal, scale)) return r;
  // The flash kernel takes [B, T, H, D]; ours are [B, H, T, D] views of that layout, so these
  // transposes are free. Grouped KV heads are native to it (no repeat).
  std::optional<int64_t> left, right;
  if (window > 0) {
    left = window - 1;
    right = 0;
  }
  auto result = at::_flash_attention_forward(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), std::nullopt,
                                             std::nullopt, q.size(2), k.size(2), 0.0, causal, false, scale, left,
                                             right, std::nullopt, std::nullopt);
  return std::make_pair(std::get<0>(result).transpose(1, 2), std::get<1>(result));
#else
  (void)q, (void)k, (void)v, (void)causal, (void)window, (void)scale, (void)allow_cudnn;
  return std::nullopt;
#endif
}

std::pair<at::Tensor, at::Tensor> merge_attention(const at::Tensor& out_a, const at::Tensor& lse_a,
                                                  const at::Tensor& out_b, const at::Tensor& lse_b) {
  auto lse = at::logaddexp(lse_a, lse_b);
  // Where both parts are empty, lse is -inf: weights of 0, not NaN.
  auto safe = at::where(at::isinf(lse), at::zeros_like(lse), lse);
  auto wa = at::exp(lse_a - safe).unsqueeze(-1), wb = at::exp(lse_b - safe).unsqueeze(-1);
  const auto type = at::promote_types(out_a.scalar_type(), at::kFloat);
  auto out = at::addcmul(out_a.to(type) * wa, out_b.to(type), wb);
  return {out.to(out_a.scalar_type()), lse};
}

at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                     const std::optional<at::Tensor>& mask, bool causal, double scale) {
  const int64_t tq = q.size(-2), tk = k.size(-2);
  const int64_t group = q.size(1) / k.size(1);
  TORCH_CHECK(q.size(1) == k.size(1) * group, "attention: query heads ", q.size(1),
              " not a multiple of KV heads ", k.size(1));
  if (group > 1 && tq == 1 && (!mask || mask->dim() <= 2)) {
    // One query per head (it sees every key up to itself, and a mask of [Tk] or [1, Tk] is the
    // same for every head): fold the heads of a group into the query axis so the cache is read
    // once per KV head instead of being copied group times.
    const auto B = q.size(0), Hkv = k.size(1), D = q.size(3);
    auto out = attention(q.reshape({B, Hkv, group, D}), k, v, mask, false, scale);
    return out.reshape({B, Hkv * group, 1, D});
  }
  if (causal && !mask && tq > 8 && tq <= tk) {
    // A chunk after a cache: the cached keys (every query sees all of them) and the chunk's own
    // keys (causal, square), each through the fused kernel, merged by their log-sum-exps. This
    // relies on no convention of the kernel for non-square causal masks.
    if (tq == tk) {
      if (auto r = flash_attention(q, k, v, true, 0, scale)) return r->first;
    } else {
      auto past = flash_attention(q, k.narrow(2, 0, tk - tq), v.narrow(2, 0, tk - tq), false, 0, scale);
      auto own = past ? flash_attention(q, k.narrow(2, tk - tq, tq), v.narrow(2, tk - tq, tq), true, 0, scale)
                      : std::nullopt;
      if (own) return merge_attention(past->first, past->second, own->first, own->second).first;
    }
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
