// The engine's entry to the hand-written kernels: fused RMSNorm, RoPE and block representatives
// on CUDA tensors. Each
// returns an undefined tensor when the kernel does not apply (CPU, unsupported dtype or layout);
// callers then use the ATen ops, which are the reference the kernels are tested against.
#pragma once

#include <ATen/core/Tensor.h>

#include <utility>

namespace qread::model {

at::Tensor fused_rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps);
// x: [1, H, T, D] with stride(-1) == 1; cos, sin: float [T, D], or [1, D] for every token at the same
// angles, rows contiguous. Returns contiguous [1, H, T, D]; undefined where the kernel does not apply.
at::Tensor fused_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);
// Representative keys of n memory blocks (memory::block_representatives): keys [1, Hkv, n * block,
// D] with rows contiguous, scores float [Hq, n * block] with rows contiguous. Returns [n, Hq * D],
// written into `out` when given (contiguous [n, Hq * D] of keys' type on its device).
at::Tensor fused_block_representatives(const at::Tensor& keys, const at::Tensor& scores, std::int64_t n,
                                       std::int64_t r, const at::Tensor& out = {});
// compat::merge_attention in one kernel: out_a, out_b [1, H, T, D] (last dim contiguous), lse_a,
// lse_b float [1, H, T] contiguous. Returns {out [1, H, T, D], lse [1, H, T]}; out is `into` where
// given (same shape and type, last dim contiguous, any other strides).
std::pair<at::Tensor, at::Tensor> fused_merge_attention(const at::Tensor& out_a, const at::Tensor& lse_a,
                                                        const at::Tensor& out_b, const at::Tensor& lse_b,
                                                        const at::Tensor& into = {});
// The attention each key of a window received, summed over the queries: logits [H, Tq, Tk]
// contiguous (unscaled q.k), lse float with H * Tq elements (the queries' final log-sum-exps of
// their scaled scores); query i sees key j when 0 <= i - j + offset < window. Returns float [H, Tk];
// with `add_into` (float [H, Tk], stride(1) == 1, on the device), adds the sums to it instead and
// returns it.
at::Tensor fused_window_attention_received(const at::Tensor& logits, const at::Tensor& lse, std::int64_t offset,
                                           std::int64_t window, double scale, const at::Tensor& add_into = {});
// The same sums from the rotated queries q [1, Hq, Tq, D] and window keys k [1, Hkv, Tk, D] (last
// dimension contiguous) by one tensor-core kernel, without the logits: float products, where the
// matmul's logits are rounded to q's type. Undefined where the kernel does not apply (CPU, float32,
// D other than 64 or 128, rows not 16-byte aligned).
at::Tensor fused_window_sums(const at::Tensor& q, const at::Tensor& k, const at::Tensor& lse, std::int64_t offset,
                             std::int64_t window, double scale, const at::Tensor& add_into = {});
// at::silu_(gate).mul_(up) by one kernel, in place in gate: gate and up [T, I] of one type and
// strides, last dimension contiguous (the halves of the MLP's [T, 2I] product). Returns gate;
// undefined where the kernel does not apply.
at::Tensor fused_silu_mul(const at::Tensor& gate, const at::Tensor& up);
// Block choice (memory::select_blocks) in two kernels: repr [n, Hq * D] with rows contiguous,
// query float [Hq, D] with stride(1) == 1, question [Hq * D] contiguous of repr's type, or
// undefined. Returns the ids of the min(k, n) best scores (int64, ascending).
at::Tensor fused_select_blocks(const at::Tensor& repr, const at::Tensor& query, const at::Tensor& question,
                               double weight, std::int64_t k);

}  // namespace qread::model
