// The engine's entry to the hand-written kernels: fused RMSNorm, RoPE and block representatives
// on CUDA tensors. Each
// returns an undefined tensor when the kernel does not apply (CPU, unsupported dtype or layout);
// callers then use the ATen ops, which are the reference the kernels are tested against.
#pragma once

#include <ATen/core/Tensor.h>

namespace qread::model {

at::Tensor fused_rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps);
// x: [1, H, T, D] with stride(-1) == 1; cos, sin: float [T, D]. Returns contiguous [1, H, T, D].
at::Tensor fused_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);
// Representative keys of n memory blocks (memory::block_representatives): keys [1, Hkv, n * block,
// D] with rows contiguous, scores float [Hq, n * block] with rows contiguous. Returns [n, Hq * D].
at::Tensor fused_block_representatives(const at::Tensor& keys, const at::Tensor& scores, std::int64_t n,
                                       std::int64_t r);

}  // namespace qread::model
