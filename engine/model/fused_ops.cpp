#include "model/fused_ops.hpp"

#include <ATen/ATen.h>

#ifdef QREAD_WITH_CUDA
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
  if (!x.is_cuda() || x.dim() != 4 || x.size(0) != 1 || x.stride(-1) != 1 || !element_type(x.scalar_type(), type) ||
      cos.scalar_type() != at::kFloat || !cos.is_contiguous() || !sin.is_contiguous())
    return {};
  auto out = at::empty(x.sizes(), x.options().memory_format(at::MemoryFormat::Contiguous));
  kernels::rope_cuda(x.data_ptr(), x.stride(1), x.stride(2), cos.data_ptr<float>(), sin.data_ptr<float>(),
                     out.data_ptr(), x.size(1), x.size(2), x.size(3), type, c10::cuda::getCurrentCUDAStream().stream());
  return out;
}

at::Tensor fused_block_representatives(const at::Tensor& keys, const at::Tensor& scores, std::int64_t n,
                                       std::int64_t r) {
  kernels::ElementType type;
  const std::int64_t dim = keys.size(3), block = keys.size(2) / n, heads = scores.size(0);
  if (!keys.is_cuda() || !element_type(keys.scalar_type(), type) || keys.stride(3) != 1 || keys.stride(2) != dim ||
      scores.scalar_type() != at::kFloat || scores.stride(1) != 1 || block > 1024 || r > block)
    return {};
  auto out = at::empty({n, heads * dim}, keys.options());
  kernels::block_representatives_cuda(keys.data_ptr(), keys.stride(1), scores.data_ptr<float>(), scores.stride(0),
                                      out.data_ptr(), n, block, heads, heads / keys.size(1), dim, r, type,
                                      c10::cuda::getCurrentCUDAStream().stream());
  return out;
}
#else
at::Tensor fused_rms_norm(const at::Tensor&, const at::Tensor&, double) { return {}; }
at::Tensor fused_rope(const at::Tensor&, const at::Tensor&, const at::Tensor&) { return {}; }
at::Tensor fused_block_representatives(const at::Tensor&, const at::Tensor&, std::int64_t, std::int64_t) { return {}; }
#endif

}  // namespace qread::model
