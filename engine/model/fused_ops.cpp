#include "model/fused_ops.hpp"

#include <ATen/ATen.h>

#include <cstdint>

#ifdef QREAD_WITH_CUDA
#include "qread/kernels/activation.hpp"
#include "qread/kernels/attention_merge.hpp"
#include "qread/kernels/block_cache.hpp"
#include "qread/kernels/rms_norm.hpp"
#include "qread/kernels/rope.hpp"

#include <c10/cuda/CUDAStream.h>
#endif

namespace qread::model {

#ifdef QREAD_WITH_CUDA
namespace {
bool element_type(at::ScalarType t, kernels::ElementType& out) {
  if (t == at::kFloat) out = kernels::ElementType::float32;
  else if (t == at::kBFloat16) out = kernels::ElementType::bfloat16;
  else if (t == at::kHalf) out = kernels::ElementType::float16;
  else return false;
  return true;
}
}  // namespace

at::Tensor fused_rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  kernels::ElementType type;
  if (!x.is_cuda() || !element_type(x.scalar_type(), type) || weight.scalar_type() != x.scalar_type() ||
      !x.is_contiguous() || !weight.is_contiguous())
    return {};
  auto out = at::empty_like(x);
  const std::int64_t cols = x.size(-1);
  kernels::rms_norm_cuda(x.data_ptr(), weight.data_ptr(), out.data_ptr(), x.numel() / cols, cols, float(eps), type,
                         c10::cuda::getCurrentCUDAStream().stream());
  return out;
}

at::Tensor fused_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  kernels::ElementType type;
  // cos, sin: a row of angles per token, or one row for every token (read in place).
  auto angles = [&](const at::Tensor& a) {
    return a.scalar_type() == at::kFloat && a.dim() == 2 && a.device() == x.device() && a.size(1) == x.size(3) &&
           a.stride(1) == 1 && (a.size(0) == x.size(2) || a.size(0) == 1);
  };
  if (!x.is_cuda() || x.dim() != 4 || x.size(0) != 1 || x.stride(-1) != 1 || !element_type(x.scalar_type(), type) ||
      !angles(cos) || !angles(sin) || cos.size(0) != sin.size(0) || cos.stride(0) != sin.stride(0))
    return {};
  auto out = at::empty(x.sizes(), x.options().memory_format(at::MemoryFormat::Contiguous));
  kernels::rope_cuda(x.data_ptr(), x.stride(1), x.stride(2), cos.data_ptr<float>(), sin.data_ptr<float>(),
                     out.data_ptr(), x.size(1), x.size(2), x.size(3), type, c10::cuda::getCurrentCUDAStream().stream(),
                     cos.size(0) == 1 ? 0 : cos.stride(0));
  return out;
}

at::Tensor fused_block_representatives(const at::Tensor& keys, const at::Tensor& scores, std::int64_t n,
                                       std::int64_t r, const at::Tensor& into) {
  kernels::ElementType type;
  const std::int64_t dim = keys.size(3), block = keys.size(2) / n, heads = scores.size(0);
  if (!keys.is_cuda() || !element_type(keys.scalar_type(), type) || keys.stride(3) != 1 || keys.stride(2) != dim ||
      scores.scalar_type() != at::kFloat || scores.stride(1) != 1 || block > 1024 || r > block ||
      (into.defined() && (into.device() != keys.device() || into.scalar_type() != keys.scalar_type() ||
                          !into.is_contiguous() || into.dim() != 2 || into.size(0) != n || into.size(1) != heads * dim)))
    return {};
  auto out = into.defined() ? into : at::empty({n, heads * dim}, keys.options());
  kernels::block_representatives_cuda(keys.data_ptr(), keys.stride(1), scores.data_ptr<float>(), scores.stride(0),
                                      out.data_ptr(), n, block, heads, heads / keys.size(1), dim, r, type,
                                      c10::cuda::getCurrentCUDAStream().stream());
  return out;
}

std::pair<at::Tensor, at::Tensor> fused_merge_attention(const at::Tensor& out_a, const at::Tensor& lse_a,
                                                        const at::Tensor& out_b, const at::Tensor& lse_b,
                                                        const at::Tensor& into) {
  kernels::ElementType type;
  auto usable = [](const at::Tensor& o, const at::Tensor& l) {
    return o.is_cuda() && o.dim() == 4 && o.size(0) == 1 && o.stride(3) == 1 && l.scalar_type() == at::kFloat &&
           l.is_contiguous() && l.numel() == o.size(1) * o.size(2);
  };
  if (!usable(out_a, lse_a) || !usable(out_b, lse_b) || out_a.sizes() != out_b.sizes() ||
      out_a.scalar_type() != out_b.scalar_type() || !element_type(out_a.scalar_type(), type) ||
      (into.defined() && (into.device() != out_a.device() || into.scalar_type() != out_a.scalar_type() ||
                          into.sizes() != out_a.sizes() || into.stride(3) != 1)))
    return {};
  auto out = into.defined() ? into : at::empty(out_a.sizes(), out_a.options().memory_format(at::MemoryFormat::Contiguous));
  auto lse = at::empty_like(lse_a);
  kernels::merge_attention_cuda(out_a.data_ptr(), out_a.stride(1), out_a.stride(2), lse_a.data_ptr<float>(),
                                out_b.data_ptr(), out_b.stride(1), out_b.stride(2), lse_b.data_ptr<float>(),
                                out.data_ptr(), out.stride(1), out.stride(2), lse.data_ptr<float>(), out_a.size(1),
                                out_a.size(2), out_a.size(3), type, c10::cuda::getCurrentCUDAStream().stream());
  return {out, lse};
}

at::Tensor fused_window_attention_received(const at::Tensor& logits, const at::Tensor& lse, std::int64_t offset,
                                           std::int64_t window, double scale, const at::Tensor& add_into) {
  kernels::ElementType type;
  if (!logits.is_cuda() || logits.dim() != 3 || !logits.is_contiguous() || !element_type(logits.scalar_type(), type) ||
      lse.scalar_type() != at::kFloat || !lse.is_contiguous() || lse.numel() != logits.size(0) * logits.size(1) ||
      (add_into.defined() && (add_into.device() != logits.device() || add_into.scalar_type() != at::kFloat ||
                              add_into.dim() != 2 || add_into.size(0) != logits.size(0) ||
                              add_into.size(1) != logits.size(2) || add_into.stride(1) != 1)))
    return {};
  auto score = add_into.defined() ? add_into : at::empty({logits.size(0), logits.size(2)}, lse.options());
  kernels::window_attention_received_cuda(logits.data_ptr(), lse.data_ptr<float>(), score.data_ptr<float>(),
                                          logits.size(0), logits.size(1), logits.size(2), offset, window,
                                          float(scale), type, c10::cuda::getCurrentCUDAStream().stream(),
                                          score.stride(0), add_into.defined());
  return score;
}

at::Tensor fused_silu_mul(const at::Tensor& gate, const at::Tensor& up) {
  kernels::ElementType type;
  if (!gate.is_cuda() || !element_type(gate.scalar_type(), type) || up.device() != gate.device() ||
      up.scalar_type() != gate.scalar_type() || gate.dim() != 2 || up.sizes() != gate.sizes() ||
      gate.stride(1) != 1 || up.stride(1) != 1 || up.stride(0) != gate.stride(0) || gate.stride(0) < gate.size(1))
    return {};
  kernels::silu_mul_cuda(gate.data_ptr(), up.data_ptr(), gate.size(0), gate.size(1), gate.stride(0), type,
                         c10::cuda::getCurrentCUDAStream().stream());
  return gate;
}

at::Tensor fused_window_sums(const at::Tensor& q, const at::Tensor& k, const at::Tensor& lse, std::int64_t offset,
                             std::int64_t window, double scale, const at::Tensor& add_into) {
  kernels::ElementType type;
  auto rows_aligned = [](const at::Tensor& t) {
    return t.dim() == 4 && t.size(0) == 1 && t.stride(3) == 1 && t.stride(1) % 8 == 0 && t.stride(2) % 8 == 0 &&
           reinterpret_cast<std::uintptr_t>(t.data_ptr()) % 16 == 0;
  };
  if (!q.is_cuda() || !element_type(q.scalar_type(), type) || !kernels::window_sums_supported(type, q.size(-1)) ||
      k.device() != q.device() || k.scalar_type() != q.scalar_type() || !rows_aligned(q) || !rows_aligned(k) ||
      k.size(3) != q.size(3) || k.size(1) == 0 || q.size(1) % k.size(1) != 0 || lse.device() != q.device() ||
      lse.scalar_type() != at::kFloat || !lse.is_contiguous() || lse.numel() != q.size(1) * q.size(2) ||
      (add_into.defined() && (add_into.device() != q.device() || add_into.scalar_type() != at::kFloat ||
                              add_into.dim() != 2 || add_into.size(0) != q.size(1) || add_into.size(1) != k.size(2) ||
                              add_into.stride(1) != 1)))
    return {};
  auto score = add_into.defined() ? add_into : at::empty({q.size(1), k.size(2)}, lse.options());
  kernels::window_attention_received_qk_cuda(q.data_ptr(), q.stride(1), q.stride(2), k.data_ptr(), k.stride(1),
                                             k.stride(2), lse.data_ptr<float>(), score.data_ptr<float>(), q.size(1),
                                             k.size(1), q.size(2), k.size(2), q.size(3), offset, window, float(scale),
                                             type, c10::cuda::getCurrentCUDAStream().stream(), score.stride(0),
                                             add_into.defined());
  return score;
}

at::Tensor fused_select_blocks(const at::Tensor& repr, const at::Tensor& query, const at::Tensor& question,
                               double weight, std::int64_t k) {
  kernels::ElementType type;
  const std::int64_t n = repr.size(0);
  if (!repr.is_cuda() || repr.dim() != 2 || repr.stride(1) != 1 || repr.stride(0) != repr.size(1) ||
      !element_type(repr.scalar_type(), type) || query.scalar_type() != at::kFloat || query.dim() != 2 ||
      query.stride(1) != 1 || query.numel() != repr.size(1) || k > 1024 ||
      (question.defined() &&
       (!question.is_contiguous() || question.scalar_type() != repr.scalar_type() || question.numel() != repr.size(1))))
    return {};
  auto ids = at::empty({std::min(k, n)}, repr.options().dtype(at::kLong));
  auto scratch = at::empty({n}, repr.options().dtype(at::kFloat));
  kernels::select_blocks_cuda(repr.data_ptr(), n, query.size(0), query.size(1), query.data_ptr<float>(),
                              query.stride(0), question.defined() ? question.data_ptr() : nullptr, float(weight), k,
                              scratch.data_ptr<float>(), ids.data_ptr<std::int64_t>(), type,
                              c10::cuda::getCurrentCUDAStream().stream());
  return ids;
}
#else
at::Tensor fused_select_blocks(const at::Tensor&, const at::Tensor&, const at::Tensor&, double, std::int64_t) {
  return {};
}
at::Tensor fused_rms_norm(const at::Tensor&, const at::Tensor&, double) { return {}; }
at::Tensor fused_rope(const at::Tensor&, const at::Tensor&, const at::Tensor&) { return {}; }
at::Tensor fused_block_representatives(const at::Tensor&, const at::Tensor&, std::int64_t, std::int64_t, const at::Tensor&) {
  return {};
}
std::pair<at::Tensor, at::Tensor> fused_merge_attention(const at::Tensor&, const at::Tensor&, const at::Tensor&,
                                                        const at::Tensor&, const at::Tensor&) {
  return {};
}
at::Tensor fused_window_attention_received(const at::Tensor&, const at::Tensor&, std::int64_t, std::int64_t, double,
                                           const at::Tensor&) {
  return {};
}
at::Tensor fused_window_sums(const at::Tensor&, const at::Tensor&, const at::Tensor&, std::int64_t, std::int64_t, double,
                             const at::Tensor&) {
  return {};
}
at::Tensor fused_silu_mul(const at::Tensor&, const at::Tensor&) { return {}; }
#endif

}  // namespace qread::model
