// Quest (seed 002): the full KV cache stays on the device; prefill attends densely. At decode,
// keys are grouped in pages of page_size tokens with the element-wise min and max of each page's
// keys; a page's criticality for query q is sum_d max(q_d * min_d, q_d * max_d), an upper bound
// of q.k over the page. Each query head attends only to the token_budget / page_size most
// critical pages (the page holding the newest tokens always among them). The first
// dense_layers layers keep full attention, as the paper does.
#pragma once

#include "memory/dense_memory.hpp"

namespace qread::memory {

class QuestMemory final : public ContextMemory {
 public:
  QuestMemory(const model::Rope& rope, std::int64_t page_size, std::int64_t token_budget)
      : rope_(rope), page_size_(page_size), token_budget_(token_budget) {}

  at::Tensor attend(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) override;
  void reset() override;
  std::int64_t length() const override { return length_; }
  ContextBytes held_bytes() const override { return storage_bytes({&keys_, &values_, &page_min_, &page_max_}); }

  // Upper bounds of q.k per page, [Hq, pages] (float32), for rotated queries q [1, Hq, 1, D]
  // against the pages of the cache. Exposed for tests.
  at::Tensor page_bounds(const at::Tensor& q_rotated) const;
  // Which pages each query head attends to for that query: [Hq, selected] (int64).
  at::Tensor select_pages(const at::Tensor& q_rotated) const;

 private:
  void append(const at::Tensor& k_rotated, const at::Tensor& v);
  void update_page_metadata(std::int64_t first_token);

  const model::Rope& rope_;
  std::int64_t page_size_, token_budget_;
  at::Tensor keys_, values_;  // [1, Hkv, capacity, D], rotated keys
  at::Tensor page_min_, page_max_;  // [Hkv, capacity / page_size, D]
  std::int64_t length_ = 0;
};

}  // namespace qread::memory
