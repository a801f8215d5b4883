// Memory blocks of one layer: key/value blocks of block_size tokens kept in host RAM (pinned when
// the model runs on CUDA), and a cache of at most `capacity` of them on the model's device with
// the reference's eviction policies (qread/kernels/block_cache.hpp says which block leaves when).
// On CUDA the cache's bookkeeping lives on the GPU: a retrieval of ids chosen there runs without
// waiting for the device, on a copy stream of the store's own, and blocks that miss are read
// from host memory by the copy kernel.
#pragma once

#include "memory/context_memory.hpp"
#include "qread/config.hpp"

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

namespace qread::memory {

struct MemoryCounters {
  std::int64_t cache_hits = 0, cache_misses = 0, bytes_to_device = 0;
  // Blocks copied ahead (stage), and the misses that then read them there.
  std::int64_t blocks_staged = 0, misses_staged = 0;
};

// Stores on CUDA keep the page-locked host memory of their cleared arenas for later stores (a
// question after the first needs no new page-locking); this frees it (waiting for the device).
void release_pinned_arenas();
// Bytes of page-locked host memory kept that way for later stores (0 without CUDA).
std::int64_t pinned_arena_pool_bytes();

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
  // starts at absolute token `start`. On CUDA the copy to host memory runs on the copy stream,
  // queued after the next retrieval (which reads these blocks from k and v, kept referenced
  // until then). Returns the first id.
  std::int64_t add_blocks(const at::Tensor& k, const at::Tensor& v, std::int64_t n, std::int64_t start);

  // Makes blocks `ids` (int64 [n], distinct, on the memory's device) resident, evicting as the
  // policy says, marks them retrieved, and returns their keys and values concatenated in the
  // order given: [1, Hkv, n * block_size, D] each. Ids must be below size(); on CUDA they are
  // not checked on the host (that would wait for the device).
  // On CUDA the store's work (copies to host memory, the policy, the gathers) runs on a copy
  // stream of its own, after what the current stream has queued, so that it overlaps the
  // current stream's later work: call ready() before the current stream uses what retrieve()
  // returned. (The vector form returns it ready.)
  // With `into` ([1, Hkv, >= n * block_size, D] each, rows contiguous, on the memory's device),
  // the blocks are written there and views of it returned: a caller that concatenates them with
  // other keys keeps those keys after them in the same buffer.
  std::pair<at::Tensor, at::Tensor> retrieve(const at::Tensor& ids,
                                             const std::pair<at::Tensor, at::Tensor>& into = {});
  std::pair<at::Tensor, at::Tensor> retrieve(const std::vector<std::int64_t>& ids);
  // The current stream waits for the store's work queued so far (nothing on the CPU).
  void ready() const;
  // The current stream waits for the last retrieval (its policy and copies into the cache and the
  // destination), not for the copies to host memory queued after it: enough to read what it
  // returned. (Those copies read rows that stay put; the next retrieval follows them on the copy
  // stream.)
  void retrieval_ready() const;
  // Starts making the first host arena for blocks of `block` tokens shaped as `like` ([1, Hkv,
  // tokens, D]) on a helper thread, if none is made or under way: a memory calls it when its
  // window is about to fill, so that the first blocks leaving it do not wait for their arena.
  void prepare(const at::Tensor& like, std::int64_t block);

  // CUDA: copies ahead the blocks that the next retrieval may ask for, so that it reads them from
  // device memory. `choose` runs on the copy stream (after the current stream's work so far) and
  // returns at most `most` block ids (int64, distinct, on the device; the top-k that the next
  // retrieval's choice will take among the blocks held now); those not in the cache are copied
  // from host memory into staging rows behind the copies already queued, beside the current
  // stream's next work. The next retrieval reads a missing block from there when it was staged,
  // else from host memory: the guess never changes what a retrieval returns or how the cache
  // evicts. `reads`: the tensors that `choose` reads (kept for the copy stream). No-op on the CPU
  // and while staging is off. (H100, Q-LLM 100K: 4.09-4.13 s against 4.20-4.22 s without.)
  void stage(std::int64_t most, const std::function<at::Tensor()>& choose, const std::vector<at::Tensor>& reads);
  // Frees the staging rows (a layer's chunk is done: every layer's would add to the peak).
  void drop_stage();
  // CUDA: thread blocks of the copy kernel that stages, as set_gather_sms; below 0, no staging.
  // QREAD_STAGE=off|n sets it for every store. A thread block per row (0) slows the model's
  // kernels beside it (H100: 100K 4.37-4.40 s); 2, 4 and 8 blocks holding an SM each took 4.19,
  // 4.09-4.13 and 4.23 s.
  void set_stage_sms(int n) { stage_sms_ = n; }
  static constexpr int kDefaultStageSms = 4;

  // lru-s only: `attention[i]` (float [n], beside `ids`) is what block ids[i] received in the
  // step that retrieved them.
  void add_scores(const at::Tensor& ids, const at::Tensor& attention);
  void add_scores(const std::vector<std::int64_t>& ids, const std::vector<double>& attention);

  // CUDA: thread blocks of the copy kernels between host and device memory (the retrieval's, the
  // copies to host memory). 0 (the default): one per row; n > 0: n blocks that each hold an SM to
  // themselves, so that the transfers over the bus do not wait beside the blocks of kernels
  // running meanwhile. QREAD_GATHER_SMS sets it for every store (to measure).
  void set_gather_sms(int n) { gather_sms_ = n; }

  std::int64_t size() const { return std::int64_t(starts_.size()); }
  std::int64_t start_of(std::int64_t id) const { return starts_[std::size_t(id)]; }
  // Ids in the cache, in eviction order (first evicted first). Waits for the device.
  std::vector<std::int64_t> eviction_order() const;
  // Waits for the device.
  MemoryCounters counters() const;
  // The blocks' host arenas and the device cache.
  ContextBytes held_bytes() const;
  void clear();

 private:
  // Starts a new host arena of kArenaBlocks blocks of `block` tokens, heads and head size as in
  // `like` ([1, Hkv, tokens, D]), so that page-locked
  // memory is allocated rarely (each allocation pins pages, which costs about as much as
  // copying them).
  void next_arena(const at::Tensor& like, std::int64_t block);
  // Waits for the device when the store has work queued there (blocks on the device).
  void wait_for_device() const;
  // Starts making an arena of `shape` on a helper thread (prefetch_).
  void start_prefetch(const std::vector<std::int64_t>& shape, const at::TensorOptions& options);
  // The next arena, made on a helper thread while the current one fills.
  struct Prefetch;
  std::unique_ptr<Prefetch> prefetch_;
  static constexpr std::int64_t kArenaBlocks = 64;
  // CUDA: the copy stream and the events that order it with the current stream.
  struct Streams;
  std::unique_ptr<Streams> streams_;
  void after_current_stream();  // the copy stream waits for the current stream's work so far
  // CUDA: the last blocks added ([Hkv, rows, D] device views, the first with id `first`) and
  // their copies to host memory, queued only after the next retrieval, which reads them from the
  // device: the copies are then off the retrieval's path on the copy stream.
  struct Pending {
    struct Copy {
      std::int64_t k_address, v_address, pitch;  // destination in an arena, its head stride in bytes
      std::int64_t row, rows;                     // the rows of k and v copied there
    };
    std::int64_t first = 0;
    at::Tensor k, v;
    std::vector<Copy> copies;
  } pending_;
  void flush_pending();  // queues the copies; the copy stream must already follow their source
  // Thread blocks of the copies to host memory: while staging, as the staging copies (they run
  // beside the model's stream too, off the retrieval's path; on the H100, 100K 4.01-4.04 s
  // against 4.10 s with a thread block per row), else as the retrieval's.
  int to_host_sms() const;
  // The policy's arrays, on the device that runs the policy (the memory's device).
  struct Policy;
  std::unique_ptr<Policy> policy_;
  void grow_tables(std::int64_t blocks);

  std::int64_t capacity_;
  CacheStrategy strategy_;
  double score_decay_;
  at::Device device_;
  bool on_device_;  // blocks are copied to a separate device cache (CUDA), not used in place
  int gather_sms_;
  int stage_sms_;  // below 0: no staging
  // CUDA: staging rows [topk, Hkv, block_size, D] and the block each holds (int64, -1: none).
  at::Tensor stage_k_, stage_v_, stage_block_;
  std::vector<std::int64_t> starts_;
  at::Tensor cache_k_, cache_v_;  // [capacity, Hkv, block_size, D] on the device
  // Host arenas, [Hkv, kArenaBlocks * block_size, D] each, filled in order: block b is block
  // b % kArenaBlocks of arena b / kArenaBlocks. All live until clear() (the device reads them).
  std::vector<at::Tensor> arenas_k_, arenas_v_;
  std::int64_t arena_k_address_ = 0, arena_v_address_ = 0;  // the last arena's device addresses
};

}  // namespace qread::memory
