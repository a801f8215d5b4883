// The per-layer context memory: everything one attention layer has seen, and how a new chunk of
// queries attends to it. Each mode (full attention, StreamingLLM, LM-Infinite, InfLLM, Q-LLM,
// Quest) is one class implementing this interface; the transformer only calls attend().
#pragma once

#include "qread/language_model.hpp"

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <initializer_list>

namespace qread::memory {

// `bytes` plus the whole storages of `tensors` (name a buffer once, not each view of it), by where
// they live: host RAM, or the model's device. Undefined tensors count nothing.
inline ContextBytes storage_bytes(std::initializer_list<const at::Tensor*> tensors, ContextBytes bytes = {}) {
  for (const auto* t : tensors)
    if (t->defined()) (t->is_cpu() ? bytes.host : bytes.device) += std::int64_t(t->storage().nbytes());
  return bytes;
}

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
  virtual ContextBytes held_bytes() const = 0;

  // Whether attend() may keep views of q, k or v after it returns (rather than copies): a
  // caller that overwrites its buffers in place (the transformer's per-layer decode graphs)
  // needs this to be false.
  virtual bool keeps_input_views() const { return true; }
};

}  // namespace qread::memory
