#include "memory/sink_window_memory.hpp"

#include "common/torch_compat.hpp"
#include "memory/multi_stage_attention.hpp"

#include <ATen/ATen.h>

#include <cmath>
#include <limits>
#include <vector>

namespace qread::memory {

at::Tensor SinkWindowMemory::fused_attend(const at::Tensor& q, const at::Tensor& all_k, const at::Tensor& all_v,
                                          std::int64_t total) const {
  // The whole chunk as one query block: the window through flash attention with a sliding
  // window (its diagonal is end-aligned, as the band mask below is), the sinks explicitly (at
  // most n_init keys), the two merged by their log-sum-exps.
  const std::int64_t t = q.size(2), held = all_k.size(2), heads = q.size(1), kv_heads = all_k.size(1),
                     dim = q.size(3), group = heads / kv_heads;
  const double scale = 1.0 / std::sqrt(double(dim));
  const std::int64_t window = std::min(held, t + n_local_);
  auto local = compat::flash_attention(rope_.apply(q, window - t), rope_.apply(all_k.narrow(2, held - window, window), 0),
                                       all_v.narrow(2, held - window, window), true, n_local_, scale);
  if (!local || total <= n_local_) return local ? local->first : at::Tensor();
  const std::int64_t sinks = std::min(n_init_, held);
  auto keys = sink_keys(all_k.narrow(2, 0, sinks)).reshape({kv_heads, sinks, dim});
  auto logits = at::matmul(sink_queries(q).reshape({kv_heads, group * t, dim}), keys.transpose(1, 2))
                    .view({heads, t, sinks})
                    .to(at::kFloat)
                    .mul_(scale);
  logits.masked_fill_(complement_window_mask(t, sinks, total - t, n_local_, q.device()).logical_not(),
                      -std::numeric_limits<float>::infinity());
  auto lse = at::logsumexp(logits, -1);  // -inf for a query that sees no sink yet
  auto probs = at::exp(logits - at::where(at::isinf(lse), at::zeros_like(lse), lse).unsqueeze(-1));
  auto out = at::matmul(probs.to(all_v.scalar_type()).view({kv_heads, group * t, sinks}),
                        all_v.narrow(2, 0, sinks).reshape({kv_heads, sinks, dim}))
                 .view({1, heads, t, dim});
  return merge_attention(local->first, local->second, out, lse.unsqueeze(0)).first;
}

at::Tensor SinkWindowMemory::attend(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  const std::int64_t t = q.size(2);
  auto all_k = keys_.defined() ? at::cat({keys_, k}, 2) : k;
  auto all_v = values_.defined() ? at::cat({values_, v}, 2) : v;
  const std::int64_t total = length_ + t, held = all_k.size(2);
  at::Tensor fused = t > 8 ? fused_attend(q, all_k, all_v, total) : at::Tensor();

  // Queries in blocks of at most n_local: a query only sees its window, so a block needs just
  // its own window of keys, and the attention logits stay small however long the chunk.
  const std::int64_t step = std::max<std::int64_t>(1, std::min<std::int64_t>(t, n_local_));
  std::vector<at::Tensor> outputs;
  if (fused.defined()) outputs.push_back(fused);
  for (std::int64_t begin = fused.defined() ? t : 0; begin < t; begin += step) {
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
