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

 private:
  void append(const at::Tensor& k, const at::Tensor& v);

  const model::Rope& rope_;
  // Rotated keys and values, [1, Hkv, capacity, D]; rows [0, length_) are valid. Capacity grows
  // by doubling so that decoding does not copy the cache at every token.
  at::Tensor keys_, values_;
  std::int64_t length_ = 0;
};

}  // namespace qread::memory
