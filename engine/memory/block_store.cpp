#include "memory/block_store.hpp"

#include "qread/error.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <future>
#include <tuple>

namespace qread::memory {

namespace {
std::pair<at::Tensor, at::Tensor> make_arena(const std::vector<std::int64_t>& shape, const at::TensorOptions& options) {
  return {at::empty(shape, options), at::empty(shape, options)};
}
}  // namespace

struct BlockStore::Prefetch {
  std::vector<std::int64_t> shape;
  at::ScalarType dtype;
  std::future<std::pair<at::Tensor, at::Tensor>> arenas;
};

BlockStore::BlockStore(std::int64_t capacity, CacheStrategy strategy, std::optional<double> score_decay,
                       const at::Device& device)
    : capacity_(capacity),
      strategy_(strategy),
      score_decay_(score_decay.value_or(1.0)),
      device_(device),
      on_device_(!device.is_cpu()) {}

BlockStore::~BlockStore() = default;  // waits for a prefetch under way
BlockStore::BlockStore(BlockStore&&) noexcept = default;
BlockStore& BlockStore::operator=(BlockStore&&) noexcept = default;

void BlockStore::clear() {
  prefetch_.reset();
  blocks_.clear();
  cached_.clear();
  free_slots_.clear();
  cache_k_ = cache_v_ = arena_k_ = arena_v_ = at::Tensor();
  arena_used_ = 0;
  clock_ = 0;
  counters_ = {};
}

std::pair<at::Tensor, at::Tensor> BlockStore::host_room(std::int64_t n, const at::Tensor& like) {
  // A request larger than what is left starts a new arena (the rest of the old one is wasted,
  // at most n - 1 blocks); requests larger than an arena get an arena of their own.
  if (!arena_k_.defined() || arena_used_ + n > arena_k_.size(0)) {
    auto shape = like.sizes().vec();
    shape.insert(shape.begin(), std::max(n, kArenaBlocks));
    auto options = like.options().device(at::kCPU).pinned_memory(on_device_);
    if (prefetch_ && prefetch_->shape == shape && prefetch_->dtype == like.scalar_type())
      std::tie(arena_k_, arena_v_) = prefetch_->arenas.get();  // rethrows the helper's failure
    else
      std::tie(arena_k_, arena_v_) = make_arena(shape, options);
    arena_used_ = 0;
    // Page-locking memory costs about as much as copying it (more on some virtual machines),
    // and blocks leave the window at every execution block: the next arena is made on a
    // helper thread meanwhile, as data loaders pin their batches. It costs one arena of host
    // memory ahead (2 x 16 MB per layer for the Llama-3-8B shape).
    prefetch_.reset();
    if (shape.front() == kArenaBlocks) {
      prefetch_ = std::make_unique<Prefetch>();
      prefetch_->shape = shape;
      prefetch_->dtype = like.scalar_type();
      prefetch_->arenas = std::async(std::launch::async, make_arena, shape, options);
    }
  }
  auto room = std::make_pair(arena_k_.narrow(0, arena_used_, n), arena_v_.narrow(0, arena_used_, n));
  arena_used_ += n;
  return room;
}

std::int64_t BlockStore::add(const at::Tensor& k, const at::Tensor& v, std::int64_t start) {
  return add_blocks(k, v, 1, start);
}

std::int64_t BlockStore::add_blocks(const at::Tensor& k, const at::Tensor& v, std::int64_t n, std::int64_t start) {
  const auto kv_heads = k.size(1), block = k.size(2) / n, dim = k.size(3);
  // [1, Hkv, n * block, D] -> [n, Hkv, block, D]
  auto split = [&](const at::Tensor& x) { return x.view({kv_heads, n, block, dim}).transpose(0, 1); };
  auto [host_k, host_v] = host_room(n, k.select(0, 0).narrow(1, 0, block));
  host_k.copy_(split(k), /*non_blocking=*/true);
  host_v.copy_(split(v), /*non_blocking=*/true);
  const auto first = size();
  for (std::int64_t i = 0; i < n; ++i) {
    Block b;
    b.k = host_k.narrow(0, i, 1);
    b.v = host_v.narrow(0, i, 1);
    b.start = start + i * block;
    blocks_.push_back(std::move(b));
  }
  return first;
}

std::vector<std::int64_t> BlockStore::eviction_order() const {
  std::vector<Cached> order = cached_;
  std::stable_sort(order.begin(), order.end(), [](const Cached& a, const Cached& b) { return a.score < b.score; });
  std::vector<std::int64_t> ids;
  for (const auto& c : order) ids.push_back(c.id);
  return ids;
}

void BlockStore::evict_for(const std::vector<std::int64_t>& ids) {
  auto cached = [&](std::int64_t id) {
    return std::any_of(cached_.begin(), cached_.end(), [&](const Cached& c) { return c.id == id; });
  };
  std::int64_t to_remove = std::int64_t(cached_.size()) - capacity_;
  for (auto id : ids)
    if (!cached(id)) ++to_remove;
  if (to_remove <= 0) return;
  for (auto victim : eviction_order()) {
    if (std::find(ids.begin(), ids.end(), victim) != ids.end()) continue;
    auto it = std::find_if(cached_.begin(), cached_.end(), [&](const Cached& c) { return c.id == victim; });
    if (blocks_[victim].slot >= 0) free_slots_.push_back(blocks_[victim].slot);
    blocks_[victim].slot = -1;
    cached_.erase(it);
    if (--to_remove == 0) return;
  }
}

std::pair<at::Tensor, at::Tensor> BlockStore::retrieve(const std::vector<std::int64_t>& ids) {
  for (auto id : ids)
    if (id < 0 || id >= size()) throw Error("block store: no block " + std::to_string(id));
  evict_for(ids);
  ++clock_;
  std::vector<at::Tensor> ks, vs;
  for (auto id : ids) {
    Block& b = blocks_[id];
    auto it = std::find_if(cached_.begin(), cached_.end(), [&](const Cached& c) { return c.id == id; });
    if (it == cached_.end()) {
      ++counters_.cache_misses;
      cached_.push_back({id, 0.0});
      it = cached_.end() - 1;
      if (on_device_) {
        if (!cache_k_.defined()) {
          auto shape = b.k.sizes().vec();
          shape[0] = capacity_;
          cache_k_ = at::empty(shape, b.k.options().device(device_).pinned_memory(false));
          cache_v_ = at::empty(shape, b.v.options().device(device_).pinned_memory(false));
          for (std::int64_t s = capacity_ - 1; s >= 0; --s) free_slots_.push_back(s);
        }
        b.slot = free_slots_.back();
        free_slots_.pop_back();
        cache_k_.narrow(0, b.slot, 1).copy_(b.k, /*non_blocking=*/true);
        cache_v_.narrow(0, b.slot, 1).copy_(b.v, /*non_blocking=*/true);
        counters_.bytes_to_device += 2 * b.k.numel() * std::int64_t(b.k.element_size());
      }
    } else {
      ++counters_.cache_hits;
    }
    it->score = strategy_ == CacheStrategy::lru ? double(clock_) : 0.0;
    ks.push_back(on_device_ ? cache_k_.narrow(0, b.slot, 1) : b.k);
    vs.push_back(on_device_ ? cache_v_.narrow(0, b.slot, 1) : b.v);
  }
  if (ids.empty()) return {};
  return {at::cat(ks, 2), at::cat(vs, 2)};
}

void BlockStore::add_scores(const std::vector<std::int64_t>& ids, const std::vector<double>& attention) {
  if (strategy_ != CacheStrategy::lru_s) return;
  for (auto& c : cached_) c.score *= score_decay_;
  for (std::size_t i = 0; i < ids.size(); ++i)
    for (auto& c : cached_)
      if (c.id == ids[i]) c.score += attention[i];
}

}  // namespace qread::memory
