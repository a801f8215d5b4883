#include "memory/sink_window_memory.hpp"

#include "memory/multi_stage_attention.hpp"

#include <ATen/ATen.h>

namespace qread::memory {

at::Tensor SinkWindowMemory::attend(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  const std::int64_t t = q.size(2);
  auto all_k = keys_.defined() ? at::cat({keys_, k}, 2) : k;
  auto all_v = values_.defined() ? at::cat({values_, v}, 2) : v;
  const std::int64_t total = length_ + t, held = all_k.size(2);

  // The window: the last t + n_local keys held, rotated by their place in it.
  const std::int64_t window = std::min(held, t + n_local_);
  auto window_k = all_k.narrow(2, held - window, window);
  auto window_v = all_v.narrow(2, held - window, window);
  MultiStageAttention attention;
  attention.add_stage(rope_.apply(q, window - t), rope_.apply(window_k, 0), window_v,
                      window_mask(t, window, window - t, n_local_, q.device()), false);
  // The sinks, once the sequence has outgrown the window; a query sees a sink only when the
  // window no longer covers it.
  if (total > n_local_) {
    const std::int64_t sinks = std::min(n_init_, held);
    attention.add_stage(sink_queries(q), sink_keys(all_k.narrow(2, 0, sinks)), all_v.narrow(2, 0, sinks),
                        complement_window_mask(t, sinks, total - t, n_local_, q.device()), false);
  }
  auto out = attention.finish();

  // Keep the sinks and the last n_local keys.
  if (total <= n_local_ + n_init_) {
    keys_ = all_k;
    values_ = all_v;
  } else {
    const std::int64_t tail = std::min(n_local_, held);
    keys_ = at::cat({all_k.narrow(2, 0, n_init_), all_k.narrow(2, held - tail, tail)}, 2);
    values_ = at::cat({all_v.narrow(2, 0, n_init_), all_v.narrow(2, held - tail, tail)}, 2);
  }
  length_ = total;
  return out;
}

void SinkWindowMemory::reset() {
  keys_ = at::Tensor();
  values_ = at::Tensor();
  length_ = 0;
}

at::Tensor StreamingLlmMemory::sink_queries(const at::Tensor& q) const {
  return rope_.apply_one(q, n_local_ + n_init_ - 1);
}
at::Tensor StreamingLlmMemory::sink_keys(const at::Tensor& k) const { return rope_.apply(k, 0); }

at::Tensor LmInfiniteMemory::sink_queries(const at::Tensor& q) const { return rope_.apply_one(q, n_local_ - 1); }
at::Tensor LmInfiniteMemory::sink_keys(const at::Tensor& k) const { return k; }

}  // namespace qread::memory
