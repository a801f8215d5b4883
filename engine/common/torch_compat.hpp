// The few differences between LibTorch 1.13 (Debian, CPU) and 2.x (CUDA wheels) live here and
// only here. Everything else in the engine is written against the API both share.
#pragma once

#include <ATen/core/Tensor.h>
#include <torch/version.h>

#include <cstdint>
#include <optional>
#include <utility>

#if TORCH_VERSION_MAJOR >= 2
#define QREAD_TORCH_2 1
#else
#define QREAD_TORCH_2 0
#endif

namespace qread::compat {

// Scaled dot-product attention. q: [B, Hq, Tq, D]; k, v: [B, Hkv, Tk, D] where Hq is a multiple
// of Hkv (grouped-query attention: query head h reads KV head h / (Hq / Hkv)). `mask` is additive or boolean (true = attend), broadcastable to
// [B, H, Tq, Tk]. `causal` aligns the causal diagonal to the end of the keys (query i may see
// keys up to Tk - Tq + i), which is what a chunk of new tokens after a KV cache needs.
// On LibTorch 2.x this uses the fused kernel (flash / memory-efficient); on 1.13, matmul and
// softmax in the input dtype with float accumulation of the softmax.
at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                     const std::optional<at::Tensor>& mask, bool causal, double scale);

// Flash attention that also returns each query's log-sum-exp of its scaled scores, so that
// attention over several key sets can be merged exactly (merge_attention). q: [B, Hq, Tq, D];
// k, v: [B, Hkv, Tk, D], any strides with the last dim contiguous. `causal` aligns the diagonal to
// the END of the keys (query i sees keys up to Tk - Tq + i); `window`, when > 0, further limits
// query i to the `window` keys ending there (a sliding window; needs `causal`). Returns
// {out [B, Hq, Tq, D] in q's dtype, lse [B, Hq, Tq] float32}, or nothing where no fused kernel
// applies (the CPU, float32, LibTorch 1.13, head sizes it does not support): callers then take
// their own path. Square causal and unmasked problems may go to cuDNN, which is faster but
// plans once per shape: callers whose key count changes at every call pass allow_cudnn = false.
std::optional<std::pair<at::Tensor, at::Tensor>> flash_attention(const at::Tensor& q, const at::Tensor& k,
                                                                 const at::Tensor& v, bool causal,
                                                                 std::int64_t window, double scale,
                                                                 bool allow_cudnn = true);

// The fused kernels on or off for the whole process (QREAD_FUSED_ATTENTION=0 in the environment
// starts with them off; QREAD_CUDNN_ATTENTION=0 keeps to flash). Off, every caller takes its
// explicit path: for comparisons and tests.
void set_fused_attention(bool on);
bool fused_attention();
// Tests only: flash_attention on CPU tensors returns the same {out, lse} computed by tensor ops
// (while fused attention is on), so that the fused paths' own logic runs on the CPU.
void set_reference_flash_on_cpu(bool on);

// Two attention results over disjoint key sets of the same queries, with their log-sum-exps
// ([B, H, Tq] float32), combined into the attention over the union: {out, lse}. A part whose
// queries saw no key has lse -inf and contributes nothing.
std::pair<at::Tensor, at::Tensor> merge_attention(const at::Tensor& out_a, const at::Tensor& lse_a,
                                                  const at::Tensor& out_b, const at::Tensor& lse_b);

// "1.13.0"-style version of the LibTorch the engine was compiled against.
const char* torch_version();

}  // namespace qread::compat
