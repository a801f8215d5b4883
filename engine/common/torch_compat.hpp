// The few differences between LibTorch 1.13 (Debian, CPU) and 2.x (CUDA wheels) live here and
// only here. Everything else in the engine is written against the API both share.
#pragma once

#include <ATen/core/Tensor.h>
#include <torch/version.h>

#include <optional>

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

// "1.13.0"-style version of the LibTorch the engine was compiled against.
const char* torch_version();

}  // namespace qread::compat
