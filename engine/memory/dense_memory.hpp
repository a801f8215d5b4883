// Full attention over a KV cache (`origin` in the reference's configs): every query sees every
// earlier token at its true position. The baseline the other modes are compared with.
#pragma once

#include "memory/context_memory.hpp"
#include "model/rope.hpp"

namespace qread::memory {

class DenseMemory final : public ContextMemory {
 public:
  explicit DenseMemory(const model::Rope& rope) : rope_(rope) {}

  at::Tensor attend(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) override;
  void reset() override;
  std::int64_t length() const override { return length_; }

  // One decode step whose position lives on the device, so that it can be captured once in a
  // CUDA graph and replayed at every position (Transformer::forward does this). `position`:
  // int64 [1], the new token's index (= length()); cos, sin: its RoPE rows, [1, D] float32;
  // `seen`: bool [capacity()], true for cache rows up to the position. Writes the token's key
  // and value at the position and returns its attention output; length() is unchanged until
  // advance(). Needs reserve() first.
  struct Step {
    at::Tensor position, cos, sin, seen;
  };
  at::Tensor attend_step(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const Step& step);
  void advance() { ++length_; }
  // Grows the cache to hold `capacity` tokens (not below length()); false while it is empty
  // (the head shapes are not known yet).
  bool reserve(std::int64_t capacity);
  ContextBytes held_bytes() const override { return storage_bytes({&keys_, &values_}); }
  std::int64_t capacity() const { return keys_.defined() ? keys_.size(2) : 0; }
  // Identifies the cache's storage: a captured step is valid while this is unchanged.
  const void* storage() const { return keys_.defined() ? keys_.data_ptr() : nullptr; }

 private:
  void grow(std::int64_t capacity);
  void append(const at::Tensor& k, const at::Tensor& v);

  const model::Rope& rope_;
  // Rotated keys and values, [1, Hkv, capacity, D]; rows [0, length_) are valid, the rest zero or
  // finite (a captured step reads them, masked). Capacity grows by doubling so that decoding does
  // not copy the cache at every token.
  at::Tensor keys_, values_;
  std::int64_t length_ = 0;
};

}  // namespace qread::memory
