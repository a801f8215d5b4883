// Attention of one chunk of queries over several key sets ("stages": the local window, the
// attention sinks, retrieved memory blocks), each with its own positions and mask, normalised by
// ONE softmax over all of them, as the reference's multi-stage dot-product attention does. It can
// also report, per stage, how much attention each key received (summed over the queries), which
// InfLLM/Q-LLM use to pick representative keys and LRU-S uses to score cached blocks.
#pragma once

#include <ATen/core/Tensor.h>

#include <utility>
#include <vector>

namespace qread::memory {

class MultiStageAttention {
 public:
  // q: [1, Hq, Tq, D] (already rotated for this stage), k, v: [1, Hkv, Tk, D] with Hq a multiple
  // of Hkv; mask: bool [Tq, Tk], true where query i may attend key j. Tk may be 0. Across all
  // stages every query must see at least one key (the local window always holds the query's
  // own key).
  void add_stage(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& mask,
                 bool want_score);

  // The output [1, Hq, Tq, D] in q's dtype. Call once, after all stages.
  at::Tensor finish();

  // After finish(): for a stage added with want_score, [Hq, Tk] (float32): the attention
  // probability each key received, summed over the queries.
  const at::Tensor& score(std::size_t stage) const { return stages_[stage].score; }

 private:
  struct Stage {
    at::Tensor logits;  // [Hq, Tq, Tk] in the input dtype, scaled, masked with -inf
    at::Tensor v;
    bool want_score;
    at::Tensor score;
  };
  std::vector<Stage> stages_;
  at::ScalarType dtype_ = at::kFloat;
  std::int64_t heads_ = 0, kv_heads_ = 0, queries_ = 0, dim_ = 0;
};

// Boolean masks the reference builds from a "sliding window" (offset, width): with
// dist = i - j + offset, the window is 0 <= dist < width and its complement dist >= width.
at::Tensor window_mask(std::int64_t queries, std::int64_t keys, std::int64_t offset, std::int64_t width,
                       const at::Device& device);
at::Tensor complement_window_mask(std::int64_t queries, std::int64_t keys, std::int64_t offset,
                                  std::int64_t width, const at::Device& device);

// Two attention results over disjoint key sets of the same queries merged by their log-sum-exps
// (compat::merge_attention), in one kernel where it applies (CUDA): {out, lse}. With `into` (out's
// shape and type), out is written there.
std::pair<at::Tensor, at::Tensor> merge_attention(const at::Tensor& out_a, const at::Tensor& lse_a,
                                                  const at::Tensor& out_b, const at::Tensor& lse_b,
                                                  const at::Tensor& into = {});

}  // namespace qread::memory
