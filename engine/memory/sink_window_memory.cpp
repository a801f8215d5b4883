#include "memory/sink_window_memory.hpp"

#include "memory/multi_stage_attention.hpp"

#include <ATen/ATen.h>

#include <vector>

namespace qread::memory {

at::Tensor SinkWindowMemory::attend(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  const std::int64_t t = q.size(2);
  auto all_k = keys_.defined() ? at::cat({keys_, k}, 2) : k;
  auto all_v = values_.defined() ? at::cat({values_, v}, 2) : v;
  const std::int64_t total = length_ + t, held = all_k.size(2);

  // Queries in blocks of at most n_local: a query only sees its window, so a block needs just
  // its own window of keys, and the attention logits stay small however long the chunk.
  const std::int64_t step = std::max<std::int64_t>(1, std::min<std::int64_t>(t, n_local_));
  std::vector<at::Tensor> outputs;
  for (std::int64_t begin = 0; begin < t; begin += step) {
    const std::int64_t n = std::min(step, t - begin);
    const auto qb = q.narrow(2, begin, n);
    // Keys held up to this block's last query; the window: the last n + n_local of them,
    // rotated by their place in it.
    const std::int64_t held_end = held - t + begin + n, total_end = total - t + begin + n;
    const std::int64_t window = std::min(held_end, n + n_local_);
    auto window_k = all_k.narrow(2, held_end - window, window);
    auto window_v = all_v.narrow(2, held_end - window, window);
    MultiStageAttention attention;
    attention.add_stage(rope_.apply(qb, window - n), rope_.apply(window_k, 0), window_v,
                        window_mask(n, window, window - n, n_local_, q.device()), false);
    // The sinks, once the sequence has outgrown the window; a query sees a sink only when the
    // window no longer covers it.
    if (total_end > n_local_) {
      const std::int64_t sinks = std::min(n_init_, held);
      attention.add_stage(sink_queries(qb), sink_keys(all_k.narrow(2, 0, sinks)), all_v.narrow(2, 0, sinks),
                          complement_window_mask(n, sinks, total_end - n, n_local_, q.device()), false);
    }
    outputs.push_back(attention.finish());
  }
  auto out = outputs.size() == 1 ? outputs.front() : at::cat(outputs, 2);

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
