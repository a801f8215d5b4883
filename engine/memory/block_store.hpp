// Memory blocks of one layer: key/value blocks of block_size tokens kept in host RAM (pinned when
// the model runs on CUDA), and a cache of at most `capacity` of them on the model's device with
// the reference's eviction policies:
//   lru:   a block's score is the time it was last retrieved; the oldest is evicted first;
//   lru-s: a retrieved block's score restarts at 0, then every attention step multiplies all
//          scores by score_decay and adds the attention the block just received; the lowest
//          score is evicted first.
// Ties go to the block that entered the cache first. Blocks being retrieved are never evicted.
#pragma once

#include "qread/config.hpp"

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

namespace qread::memory {

struct MemoryCounters {
  std::int64_t cache_hits = 0, cache_misses = 0, bytes_to_device = 0;
};

class BlockStore {
 public:
  BlockStore(std::int64_t capacity, CacheStrategy strategy, std::optional<double> score_decay,
             const at::Device& device);
  ~BlockStore();
  BlockStore(BlockStore&&) noexcept;
  BlockStore& operator=(BlockStore&&) noexcept;

  // Stores a block ([1, Hkv, block_size, D] each) starting at absolute token `start`; returns its id.
  std::int64_t add(const at::Tensor& k, const at::Tensor& v, std::int64_t start);
  // Stores n consecutive blocks at once: k and v are [1, Hkv, n * block_size, D], the first block
  // starts at absolute token `start`. The copy to host memory is asynchronous on CUDA (the host
  // side is read only through later stream-ordered copies). Returns the first id.
  std::int64_t add_blocks(const at::Tensor& k, const at::Tensor& v, std::int64_t n, std::int64_t start);

  // Makes `ids` resident (evicting as the policy says), marks them retrieved, and returns their
  // keys and values concatenated in the order given: [1, Hkv, n * block_size, D] each.
  std::pair<at::Tensor, at::Tensor> retrieve(const std::vector<std::int64_t>& ids);

  // lru-s only: `attention[i]` is what block ids[i] received in the step that retrieved them.
  void add_scores(const std::vector<std::int64_t>& ids, const std::vector<double>& attention);

  std::int64_t size() const { return std::int64_t(blocks_.size()); }
  std::int64_t start_of(std::int64_t id) const { return blocks_[id].start; }
  // Ids in the cache, in eviction order (first evicted first).
  std::vector<std::int64_t> eviction_order() const;
  const MemoryCounters& counters() const { return counters_; }
  void clear();

 private:
  struct Block {
    at::Tensor k, v;  // host
    std::int64_t start = 0;
    std::int64_t slot = -1;  // in the device cache, or -1
  };
  struct Cached {
    std::int64_t id;
    double score;
  };

  void evict_for(const std::vector<std::int64_t>& ids);
  // Host room for n more blocks shaped like `like` ([Hkv, block, D]): views into arenas of
  // kArenaBlocks blocks, so that page-locked memory is allocated rarely (each allocation pins
  // pages, which costs about as much as copying them).
  std::pair<at::Tensor, at::Tensor> host_room(std::int64_t n, const at::Tensor& like);
  // The next arena, made on a helper thread while the current one fills.
  struct Prefetch;
  std::unique_ptr<Prefetch> prefetch_;
  static constexpr std::int64_t kArenaBlocks = 64;

  std::int64_t capacity_;
  CacheStrategy strategy_;
  double score_decay_;
  at::Device device_;
  bool on_device_;  // blocks are copied to a separate device cache (CUDA), not used in place
  std::vector<Block> blocks_;
  std::vector<Cached> cached_;  // insertion order = tie order
  std::vector<std::int64_t> free_slots_;
  at::Tensor cache_k_, cache_v_;  // [capacity, Hkv, block_size, D] on the device
  at::Tensor arena_k_, arena_v_;  // [kArenaBlocks, Hkv, block_size, D] host; rows [arena_used_, end) free
  std::int64_t arena_used_ = 0;
  std::int64_t clock_ = 0;
  MemoryCounters counters_;
};

}  // namespace qread::memory
