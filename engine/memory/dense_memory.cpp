#include "memory/dense_memory.hpp"

#include "common/torch_compat.hpp"

#include <ATen/ATen.h>

#include <cmath>

namespace qread::memory {

void DenseMemory::append(const at::Tensor& k, const at::Tensor& v) {
  const std::int64_t t = k.size(2), needed = length_ + t;
  if (!keys_.defined() || needed > keys_.size(2)) {
    std::int64_t capacity = keys_.defined() ? keys_.size(2) : 0;
    capacity = std::max<std::int64_t>({needed, 2 * capacity, 256});
    auto grow = [&](const at::Tensor& old, const at::Tensor& like) {
      auto fresh = at::empty({like.size(0), like.size(1), capacity, like.size(3)}, like.options());
      if (length_ > 0) fresh.narrow(2, 0, length_).copy_(old.narrow(2, 0, length_));
      return fresh;
    };
    keys_ = grow(keys_, k);
    values_ = grow(values_, v);
  }
  keys_.narrow(2, length_, t).copy_(k);
  values_.narrow(2, length_, t).copy_(v);
  length_ = needed;
}

at::Tensor DenseMemory::attend(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  const std::int64_t start = length_;
  auto q_rot = rope_.apply(q, start);
  append(rope_.apply(k, start), v);
  const double scale = 1.0 / std::sqrt(double(q.size(-1)));
  return compat::attention(q_rot, keys_.narrow(2, 0, length_), values_.narrow(2, 0, length_),
                           std::nullopt, /*causal=*/true, scale);
}

void DenseMemory::reset() {
  keys_ = at::Tensor();
  values_ = at::Tensor();
  length_ = 0;
}

}  // namespace qread::memory
