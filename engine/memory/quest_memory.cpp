#include "memory/quest_memory.hpp"

#include "common/torch_compat.hpp"

#include <ATen/ATen.h>

#include <cmath>
#include <limits>

namespace qread::memory {

void QuestMemory::reset() {
  keys_ = values_ = page_min_ = page_max_ = at::Tensor();
  length_ = 0;
}

void QuestMemory::append(const at::Tensor& k, const at::Tensor& v) {
  const std::int64_t t = k.size(2), needed = length_ + t;
  if (!keys_.defined() || needed > keys_.size(2)) {
    // Capacity in whole pages, doubling.
    std::int64_t capacity = std::max<std::int64_t>({needed, keys_.defined() ? 2 * keys_.size(2) : 0, 4 * page_size_});
    capacity = (capacity + page_size_ - 1) / page_size_ * page_size_;
    auto grow = [&](const at::Tensor& old, const at::Tensor& like, std::int64_t rows) {
      auto fresh = at::empty({like.size(0), like.size(1), rows, like.size(3)}, like.options());
      if (old.defined() && old.size(2) > 0) fresh.narrow(2, 0, old.size(2)).copy_(old);
      return fresh;
    };
    keys_ = grow(keys_.defined() ? keys_.narrow(2, 0, length_) : keys_, k, capacity);
    values_ = grow(values_.defined() ? values_.narrow(2, 0, length_) : values_, v, capacity);
    const std::int64_t pages = capacity / page_size_;
    auto grow_pages = [&](const at::Tensor& old) {
      auto fresh = at::empty({k.size(1), pages, k.size(3)}, k.options());
      if (old.defined()) fresh.narrow(1, 0, old.size(1)).copy_(old);
      return fresh;
    };
    page_min_ = grow_pages(page_min_);
    page_max_ = grow_pages(page_max_);
  }
  keys_.narrow(2, length_, t).copy_(k);
  values_.narrow(2, length_, t).copy_(v);
  const std::int64_t first = length_;
  length_ = needed;
  update_page_metadata(first);
}

void QuestMemory::update_page_metadata(std::int64_t first_token) {
  // Recompute the pages touched by tokens [first_token, length_).
  const std::int64_t first_page = first_token / page_size_, last_page = (length_ - 1) / page_size_;
  for (std::int64_t p = first_page; p <= last_page; ++p) {
    const std::int64_t begin = p * page_size_, n = std::min(page_size_, length_ - begin);
    auto page = keys_[0].narrow(1, begin, n);  // [Hkv, n, D]
    page_min_.select(1, p).copy_(std::get<0>(page.min(1)));
    page_max_.select(1, p).copy_(std::get<0>(page.max(1)));
  }
}

at::Tensor QuestMemory::page_bounds(const at::Tensor& q) const {
  const std::int64_t heads = q.size(1), kv_heads = keys_.size(1), group = heads / kv_heads;
  const std::int64_t pages = (length_ + page_size_ - 1) / page_size_;
  auto qh = q[0].select(1, 0).to(at::kFloat).unsqueeze(1);  // [Hq, 1, D]
  auto expand = [&](const at::Tensor& m) {
    return m.narrow(1, 0, pages).to(at::kFloat).repeat_interleave(group, 0);  // [Hq, pages, D]
  };
  return at::maximum(qh * expand(page_min_), qh * expand(page_max_)).sum(-1);
}

at::Tensor QuestMemory::select_pages(const at::Tensor& q) const {
  const std::int64_t pages = (length_ + page_size_ - 1) / page_size_;
  const std::int64_t budget = std::max<std::int64_t>(1, token_budget_ / page_size_);
  auto bounds = page_bounds(q);
  // The newest page always takes part.
  bounds.select(1, pages - 1).fill_(std::numeric_limits<float>::infinity());
  return std::get<1>(bounds.topk(std::min(budget, pages), 1));
}

at::Tensor QuestMemory::attend(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  const std::int64_t start = length_;
  auto q_rot = rope_.apply(q, start);
  append(rope_.apply(k, start), v);
  const double scale = 1.0 / std::sqrt(double(q.size(-1)));
  const std::int64_t budget_pages = std::max<std::int64_t>(1, token_budget_ / page_size_);
  const std::int64_t pages = (length_ + page_size_ - 1) / page_size_;
  if (q.size(2) != 1 || pages <= budget_pages)  // prefill, or everything fits the budget: dense
    return compat::attention(q_rot, keys_.narrow(2, 0, length_), values_.narrow(2, 0, length_), std::nullopt,
                             true, scale);

  // Decode: gather each query head's selected pages and attend to them only.
  const std::int64_t heads = q.size(1), kv_heads = keys_.size(1), group = heads / kv_heads, d = q.size(3);
  auto chosen = select_pages(q_rot);                                    // [Hq, P]
  auto token_index = (chosen.unsqueeze(-1) * page_size_ +
                      at::arange(page_size_, chosen.options()).view({1, 1, page_size_}))
                         .reshape({heads, -1});                         // [Hq, P * page]
  auto valid = token_index < length_;
  token_index = token_index.clamp_max(length_ - 1);
  // Rows of the cache viewed as [Hkv * capacity, D]: no copy of the cache per head.
  const std::int64_t capacity = keys_.size(2);
  auto kv_of_head = at::arange(kv_heads, chosen.options()).repeat_interleave(group);  // [Hq]
  auto rows = (kv_of_head.unsqueeze(1) * capacity + token_index).reshape({-1});
  auto gather = [&](const at::Tensor& cache) {  // [Hq, P * page, D]
    return cache[0].reshape({kv_heads * capacity, d}).index_select(0, rows).view({heads, -1, d});
  };
  auto mask = at::where(valid, at::zeros({}, q_rot.options()),
                        at::full({}, -std::numeric_limits<float>::infinity(), q_rot.options()))
                  .view({1, heads, 1, -1});
  return compat::attention(q_rot, gather(keys_).unsqueeze(0), gather(values_).unsqueeze(0), mask, false, scale);
}

}  // namespace qread::memory
