// StreamingLLM and LM-Infinite: the first n_init tokens (attention sinks) plus a sliding window of
// the last n_local tokens; everything else is forgotten. They differ only in the positions the
// sinks are seen at (as the reference assigns them):
//   StreamingLLM: sink keys at their own positions 0..n_init-1, queries at n_local + n_init - 1;
//   LM-Infinite:  sink keys unrotated (position 0), queries at n_local - 1.
// The window is rotated by relative position inside it in both.
#pragma once

#include "memory/context_memory.hpp"
#include "model/rope.hpp"

namespace qread::memory {

class SinkWindowMemory : public ContextMemory {
 public:
  at::Tensor attend(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) override;
  void reset() override;
  std::int64_t length() const override { return length_; }
  ContextBytes held_bytes() const override { return storage_bytes({&keys_, &values_}); }

 protected:
  SinkWindowMemory(const model::Rope& rope, std::int64_t n_init, std::int64_t n_local)
      : rope_(rope), n_init_(n_init), n_local_(n_local) {}
  // Sink queries and keys as the mode positions them.
  virtual at::Tensor sink_queries(const at::Tensor& q) const = 0;
  virtual at::Tensor sink_keys(const at::Tensor& k) const = 0;

  const model::Rope& rope_;
  std::int64_t n_init_, n_local_;

 private:
  // The chunk's attention through the fused kernels (CUDA, half precision), or undefined.
  at::Tensor fused_attend(const at::Tensor& q, const at::Tensor& all_k, const at::Tensor& all_v,
                          std::int64_t total) const;
  at::Tensor keys_, values_;  // unrotated: the sinks, then the window
  std::int64_t length_ = 0;
};

class StreamingLlmMemory final : public SinkWindowMemory {
 public:
  StreamingLlmMemory(const model::Rope& rope, std::int64_t n_init, std::int64_t n_local)
      : SinkWindowMemory(rope, n_init, n_local) {}

 protected:
  at::Tensor sink_queries(const at::Tensor& q) const override;
  at::Tensor sink_keys(const at::Tensor& k) const override;
};

class LmInfiniteMemory final : public SinkWindowMemory {
 public:
  LmInfiniteMemory(const model::Rope& rope, std::int64_t n_init, std::int64_t n_local)
      : SinkWindowMemory(rope, n_init, n_local) {}

 protected:
  at::Tensor sink_queries(const at::Tensor& q) const override;
  at::Tensor sink_keys(const at::Tensor& k) const override;
};

}  // namespace qread::memory
