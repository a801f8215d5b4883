// The per-layer context memory: everything one attention layer has seen, and how a new chunk of
// queries attends to it. Each mode (full attention, StreamingLLM, LM-Infinite, InfLLM, Q-LLM,
// Quest) is one class implementing this interface; the transformer only calls attend().
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace qread::memory {

// Bytes of the tensors a memory holds, by where they live: host RAM, or the model's device.
struct HeldBytes {
  std::int64_t host = 0, device = 0;
  // The whole storage of `t` (add a buffer once, not each view of it); nothing when undefined.
  void add(const at::Tensor& t) {
    if (t.defined()) (t.is_cpu() ? host : device) += std::int64_t(t.storage().nbytes());
  }
};

class ContextMemory {
 public:
  virtual ~ContextMemory() = default;

  // q: [1, Hq, T, D], k and v: [1, Hkv, T, D], projections of the next T tokens *before* RoPE
  // (each mode assigns positions its own way). Appends k, v to the memory and returns the
  // attention output for the T queries, [1, Hq, T, D], each query seeing itself and what came
  // before it.
  virtual at::Tensor attend(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) = 0;

  // Forget everything (a new document).
  virtual void reset() = 0;

  // Tokens seen since the last reset.
  virtual std::int64_t length() const = 0;

  // What it holds now: the keys and values it keeps and the buffers it works in.
  virtual HeldBytes held_bytes() const = 0;

  // Whether attend() may keep views of q, k or v after it returns (rather than copies): a
  // caller that overwrites its buffers in place (the transformer's per-layer decode graphs)
  // needs this to be false.
  virtual bool keeps_input_views() const { return true; }
};

}  // namespace qread::memory
