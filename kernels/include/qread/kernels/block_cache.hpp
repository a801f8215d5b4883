// The device cache of memory blocks (InfLLM / Q-LLM): which blocks sit in which of `capacity`
// device slots, and which one leaves when a retrieval needs room. The policy is plain code on
// plain arrays, compiled for the host (the CPU block store runs it directly) and for the device
// (a one-thread kernel runs the same lines on arrays in GPU memory; up to 1024 slots, a
// one-block kernel makes the same decisions in parallel), so that a retrieval whose block ids
// were chosen on the GPU needs no host synchronisation, and both sides evict alike:
//   lru:   a block's score is the clock of its last retrieval;
//   lru-s: a retrieved block's score restarts at 0; every scoring step multiplies all scores by
//          the decay and adds the attention each retrieved block received;
// the lowest score leaves first, ties by the order blocks entered the cache, and blocks being
// retrieved never leave.
#pragma once

#include "qread/kernels/rms_norm.hpp"  // ElementType

#include <cstdint>

#if defined(__CUDACC__)
#define QREAD_HOST_DEVICE __host__ __device__
#else
#define QREAD_HOST_DEVICE
#endif

namespace qread::kernels {

// Pointers into one set of arrays (all on the host, or all on the device).
struct BlockCacheState {
  std::int64_t* slot_block;    // [capacity]: block id in the slot, -1 when free
  double* slot_score;          // [capacity]
  std::int64_t* slot_entered;  // [capacity]: when the block entered (ties go to the earliest)
  std::int64_t* block_slot;    // [blocks]: the block's slot, -1 when not cached
  std::int64_t* counters;      // [kBlockCacheCounters], by BlockCacheCounter
  std::int64_t capacity;
};
// kEntered: the next entry number; kStaged: blocks copied ahead into staging rows (stage_row);
// kStagedUsed: misses whose rows came from there.
enum BlockCacheCounter { kClock = 0, kHits = 1, kMisses = 2, kEntered = 3, kStaged = 4, kStagedUsed = 5 };
inline constexpr std::int64_t kBlockCacheCounters = 6;

namespace detail {
QREAD_HOST_DEVICE inline bool contains(const std::int64_t* ids, std::int64_t n, std::int64_t id) {
  for (std::int64_t i = 0; i < n; ++i)
    if (ids[i] == id) return true;
  return false;
}
}  // namespace detail

// Makes blocks ids[0..n) resident: evicts what the policy says, then gives each missing block a
// free slot. slot[i] is the block's slot (-1 only when n exceeds the capacity), missed[i] whether
// it was copied in (then its contents must come from host memory).
QREAD_HOST_DEVICE inline void block_cache_retrieve(BlockCacheState s, const std::int64_t* ids, std::int64_t n,
                                                   bool lru, std::int64_t* slot, std::uint8_t* missed) {
  std::int64_t cached = 0, missing = 0;
  for (std::int64_t i = 0; i < s.capacity; ++i) cached += s.slot_block[i] >= 0;
  for (std::int64_t i = 0; i < n; ++i) missing += s.block_slot[ids[i]] < 0;
  for (std::int64_t to_remove = cached + missing - s.capacity; to_remove > 0; --to_remove) {
    std::int64_t victim = -1;
    for (std::int64_t i = 0; i < s.capacity; ++i) {
      const std::int64_t b = s.slot_block[i];
      if (b < 0 || detail::contains(ids, n, b)) continue;
      if (victim < 0 || s.slot_score[i] < s.slot_score[victim] ||
          (s.slot_score[i] == s.slot_score[victim] && s.slot_entered[i] < s.slot_entered[victim]))
        victim = i;
    }
    if (victim < 0) break;
    s.block_slot[s.slot_block[victim]] = -1;
    s.slot_block[victim] = -1;
  }
  const std::int64_t clock = ++s.counters[kClock];
  for (std::int64_t i = 0; i < n; ++i) {
    std::int64_t at = s.block_slot[ids[i]];
    missed[i] = at < 0;
    if (at < 0) {
      ++s.counters[kMisses];
      for (std::int64_t j = 0; j < s.capacity && at < 0; ++j)
        if (s.slot_block[j] < 0) at = j;
      if (at >= 0) {
        s.slot_block[at] = ids[i];
        s.block_slot[ids[i]] = at;
        s.slot_entered[at] = s.counters[kEntered]++;
      }
    } else {
      ++s.counters[kHits];
    }
    if (at >= 0) s.slot_score[at] = lru ? double(clock) : 0.0;
    slot[i] = at;
  }
}

// lru-s: decays every cached score, then adds attention[i] to block ids[i] when it is cached.
QREAD_HOST_DEVICE inline void block_cache_add_scores(BlockCacheState s, const std::int64_t* ids, std::int64_t n,
                                                     const float* attention, double decay) {
  for (std::int64_t i = 0; i < s.capacity; ++i)
    if (s.slot_block[i] >= 0) s.slot_score[i] *= decay;
  for (std::int64_t i = 0; i < n; ++i)
    if (const std::int64_t at = s.block_slot[ids[i]]; at >= 0) s.slot_score[at] += double(attention[i]);
}

// Where a retrieval's gather reads and writes, as plain code like the policy above: the kernel
// (block_cache_retrieve_cuda) runs these lines for each row, and a CPU test runs them too.
// Blocks [first, first + count) are read from device memory instead of host memory (their copy
// to host memory is not queued yet): block first + j's head h at k + h * head_bytes + j *
// row_bytes (and likewise from v).
struct PendingBlocks {
  std::int64_t first = 0, count = 0;
  const void* k = nullptr;
  const void* v = nullptr;
  std::int64_t head_bytes = 0;
};

// Blocks copied from host memory ahead of the retrieval that may ask for them (stage_row): staged
// row j holds block block[j] (-1: none), head h at k + (j * heads + h) * row_bytes (likewise v).
struct StagedBlocks {
  const std::int64_t* block = nullptr;
  std::int64_t count = 0;
  const char* k = nullptr;
  const char* v = nullptr;
};

// Block ids[i] (i < n) goes to out_k / out_v + h * out_head_bytes + i * row_bytes, from its cache
// slot slot[i] (row (slot * heads + h) of cache_k / cache_v) or, when missed[i], from the pending
// blocks, the staged blocks or else host memory (host_k[id] + h * host_head_bytes), and then also
// into its new slot.
struct GatherArgs {
  const std::int64_t* ids;
  std::int64_t n;
  const std::int64_t* slot;
  const std::uint8_t* missed;
  const std::int64_t* host_k;
  const std::int64_t* host_v;
  std::int64_t host_head_bytes;
  PendingBlocks pending;
  char *cache_k, *cache_v, *out_k, *out_v;
  std::int64_t heads, row_bytes, out_head_bytes;
  StagedBlocks staged{};
  std::int64_t* staged_used = nullptr;  // counts the blocks read from staged rows (on the device)
};

// One row to copy: src to dst, and also to `also` when not null; `staged`: src is a staged row.
struct RowCopy {
  const char* src;
  char* dst;
  char* also;
  bool staged = false;
};

// Head h of block ids[i]'s keys, or values.
QREAD_HOST_DEVICE inline RowCopy gather_row(const GatherArgs& a, std::int64_t i, std::int64_t h, bool values) {
  const std::int64_t id = a.ids[i], at = a.slot[i];
  char* cached = at >= 0 ? (values ? a.cache_v : a.cache_k) + (at * a.heads + h) * a.row_bytes : nullptr;
  char* dst = (values ? a.out_v : a.out_k) + h * a.out_head_bytes + i * a.row_bytes;
  if (!a.missed[i]) return {cached, dst, nullptr};
  if (id >= a.pending.first && id < a.pending.first + a.pending.count)
    return {static_cast<const char*>(values ? a.pending.v : a.pending.k) + h * a.pending.head_bytes +
                (id - a.pending.first) * a.row_bytes,
            dst, cached};
  for (std::int64_t j = 0; j < a.staged.count; ++j)
    if (a.staged.block[j] == id) return {(values ? a.staged.v : a.staged.k) + (j * a.heads + h) * a.row_bytes, dst, cached, true};
  return {reinterpret_cast<const char*>((values ? a.host_v : a.host_k)[id]) + h * a.host_head_bytes, dst, cached};
}

// Copies ahead: blocks ids[0, n) (distinct; negative ids are skipped) that are not in the cache
// now, from host memory into staging rows, for a retrieval expected to ask for some of them next
// (the cache does not change until then, so a block asked for that was staged missed). Staged
// row j takes ids[j]: stage_block[j] = ids[j], or -1 where ids[j] is cached or negative.
struct StageArgs {
  const std::int64_t* ids;
  std::int64_t n;
  const std::int64_t* block_slot;
  const std::int64_t* host_k;
  const std::int64_t* host_v;
  std::int64_t host_head_bytes;
  std::int64_t* stage_block;
  char *stage_k, *stage_v;
  std::int64_t heads, row_bytes;
};

// Head h of ids[i]'s keys, or values; src null where nothing is copied.
QREAD_HOST_DEVICE inline RowCopy stage_row(const StageArgs& a, std::int64_t i, std::int64_t h, bool values) {
  const std::int64_t id = a.ids[i];
  char* dst = (values ? a.stage_v : a.stage_k) + (i * a.heads + h) * a.row_bytes;
  if (id < 0 || a.block_slot[id] >= 0) return {nullptr, dst, nullptr};
  return {reinterpret_cast<const char*>((values ? a.host_v : a.host_k)[id]) + h * a.host_head_bytes, dst, nullptr};
}

#ifdef QREAD_WITH_CUDA
// A retrieval on the device, on `stream` (a cudaStream_t), with no host synchronisation:
// runs block_cache_retrieve on device-resident state and ids (int64 [n]), then copies each
// block's keys and values into out_k / out_v (per head, the blocks one after another; head h at
// out + h * out_head_bytes) from its cache slot, or, for a block that missed, from host memory
// (pinned, read through unified addressing) into both the output and its new slot. A block is `heads`
// runs of `row_bytes` bytes: in host memory at host_k[id] + h * host_head_bytes (host_k and
// host_v: int64 [blocks] tables of device-usable addresses, readable by the device), in the
// cache at cache + (slot * heads + h) * row_bytes. slot and missed are device scratch of n entries.
// Blocks in `pending` are read from device memory instead, and blocks in `staged` from their
// staging rows (gather_row says which row goes where; counters[kStagedUsed] counts the latter).
// gather_sms: 0, a thread block per row; n > 0, n thread blocks that each take an SM to themselves.
void block_cache_retrieve_cuda(BlockCacheState state, const std::int64_t* ids, std::int64_t n, bool lru,
                               std::int64_t* slot, std::uint8_t* missed, const std::int64_t* host_k,
                               const std::int64_t* host_v, std::int64_t host_head_bytes, PendingBlocks pending,
                               StagedBlocks staged, void* cache_k, void* cache_v, void* out_k, void* out_v, std::int64_t heads,
                               std::int64_t row_bytes, std::int64_t out_head_bytes, int gather_sms, void* stream);
// Copies ahead on `stream` (stage_row says what): the stage kernel also sets stage_block and
// adds the blocks it copies to counters[kStaged]. n <= 65535. sms as block_cache_retrieve_cuda's
// gather_sms.
void block_cache_stage_cuda(const StageArgs& args, std::int64_t* counters, int sms, void* stream);
// block_cache_add_scores on device-resident state, ids and attention (float [n]).
void block_cache_add_scores_cuda(BlockCacheState state, const std::int64_t* ids, std::int64_t n,
                                 const float* attention, double decay, void* stream);
// The address the device uses for page-locked host memory (the same one under unified
// addressing). Throws std::runtime_error when the memory is not page-locked.
std::int64_t device_address_of_host_memory(const void* host);
// Page-locked host memory from pages of our own (mmap, transparent huge pages asked for, touched
// before registering, so that the driver only pins them), mapped for the device. For large
// long-lived buffers made on a helper thread: the driver's lock is held only while pinning.
// Returns nullptr when any step fails. free_pinned waits for the device before unpinning.
void* allocate_pinned(std::int64_t bytes);
void free_pinned(void* memory, std::int64_t bytes);
// `rows` runs of `width` bytes from src (a run every src_pitch bytes) to dst (every dst_pitch),
// both addresses the device can use (device memory, or page-locked host memory through its
// device address), by a kernel on `stream`. Unlike cudaMemcpy2DAsync, it does not wait while
// another thread page-locks memory (the driver holds a lock for that which copies take too; on
// the H100 machine a copy then waited up to 5 ms). sms: 0, thread blocks over every row; n > 0,
// n thread blocks that each hold an SM to themselves (as block_cache_retrieve_cuda's gather_sms).
void copy_rows_cuda(void* dst, std::int64_t dst_pitch, const void* src, std::int64_t src_pitch, std::int64_t width,
                    std::int64_t rows, void* stream, int sms = 0);
// The blocks an execution block retrieves (InfLLM / Q-LLM), chosen on the device:
//   score[b] = sum over c of repr[b][c] * (query[c] + weight * question[c])   (float)
// for the n representative rows repr ([n][heads * dim], rows contiguous), query float with head
// h's dim values at query + h * query_head_stride, question [heads * dim] of repr's type or
// nullptr (then weight is ignored). Writes the ids of the min(k, n) highest scores, ascending, to
// ids (int64). Ties go to the lower id; NaN scores count as -infinity. scratch: float [n].
void select_blocks_cuda(const void* repr, std::int64_t n, std::int64_t heads, std::int64_t dim, const float* query,
                        std::int64_t query_head_stride, const void* question, float weight, std::int64_t k,
                        float* scratch, std::int64_t* ids, ElementType type, void* stream);
// Representative keys of n memory blocks: for block i and query head h, the mean of the keys
// (of KV head h / group) at the r positions of the block with the highest score[h][i * block + t].
// keys: [kv_heads][n * block][dim] with strides key_head_stride / dim (elements); scores: float,
// row h at scores + h * score_stride; out: row i at out + i * heads * dim, head h at + h * dim.
// r <= block <= 1024. Means are taken in float and rounded once.
void block_representatives_cuda(const void* keys, std::int64_t key_head_stride, const float* scores,
                                std::int64_t score_stride, void* out, std::int64_t n, std::int64_t block,
                                std::int64_t heads, std::int64_t group, std::int64_t dim, std::int64_t r,
                                ElementType type, void* stream);
#endif

}  // namespace qread::kernels
