#include "memory/dense_memory.hpp"

#include "common/torch_compat.hpp"

#include <ATen/ATen.h>

#include <cmath>

namespace qread::memory {

void DenseMemory::grow(std::int64_t capacity) {
  auto grown = [&](const at::Tensor& old) {
    auto fresh = at::zeros({old.size(0), old.size(1), capacity, old.size(3)}, old.options());
    if (length_ > 0) fresh.narrow(2, 0, length_).copy_(old.narrow(2, 0, length_));
    return fresh;
  };
  keys_ = grown(keys_);
  values_ = grown(values_);
}

bool DenseMemory::reserve(std::int64_t capacity) {
  if (!keys_.defined()) return false;
  if (capacity > keys_.size(2)) grow(capacity);
  return true;
}

void DenseMemory::append(const at::Tensor& k, const at::Tensor& v) {
  const std::int64_t t = k.size(2), needed = length_ + t;
  if (!keys_.defined()) {
    keys_ = at::empty({k.size(0), k.size(1), 0, k.size(3)}, k.options());
    values_ = at::empty({v.size(0), v.size(1), 0, v.size(3)}, v.options());
  }
  if (needed > keys_.size(2)) grow(std::max<std::int64_t>({needed, 2 * keys_.size(2), 256}));
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

at::Tensor DenseMemory::attend_step(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                    const Step& step) {
  keys_.index_copy_(2, step.position, rope_.apply_rows(k, step.cos, step.sin));
  values_.index_copy_(2, step.position, v);
  // Every cache row, the ones after the position masked out: fixed shapes for the graph.
  return compat::attention(rope_.apply_rows(q, step.cos, step.sin), keys_, values_, step.seen, false,
                           1.0 / std::sqrt(double(q.size(-1))));
}

void DenseMemory::reset() {
  keys_ = at::Tensor();
  values_ = at::Tensor();
  length_ = 0;
}

}  // namespace qread::memory
