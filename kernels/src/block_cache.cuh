// The block cache's kernels: policy, gathers, copies, block choice, representative keys
// (block_cache.cu launches them; the CPU emulation test runs some of them too).
#pragma once

#include "element_access.cuh"
#include "qread/kernels/block_cache.hpp"

#include <cmath>
#include <cstdint>

namespace qread::kernels {
namespace {

__global__ void retrieve_policy_kernel(BlockCacheState state, const std::int64_t* ids, std::int64_t n, bool lru,
                                       std::int64_t* slot, std::uint8_t* missed) {
  block_cache_retrieve(state, ids, n, lru, slot, missed);
}

__global__ void add_scores_kernel(BlockCacheState state, const std::int64_t* ids, std::int64_t n,
                                  const float* attention, double decay) {
  block_cache_add_scores(state, ids, n, attention, decay);
}

// The policy in one thread block (capacity up to kParallelSlots, n up to kParallelIds), the
// same decisions as block_cache_retrieve: evicting the to_remove lowest (score, entry) of the
// slots not being retrieved is what repeatedly evicting the lowest does, and missing blocks take
// the free slots lowest first. The slots live in shared memory; one thread did all of it in
// global memory before (a dependent load at a time).
constexpr int kPolicyThreads = 256, kParallelSlots = 1024, kParallelIds = 1024;

__global__ void parallel_policy_kernel(BlockCacheState s, const std::int64_t* ids, std::int64_t n, bool lru,
                                       std::int64_t* slot, std::uint8_t* missed) {
  __shared__ std::int64_t block[kParallelSlots], entered[kParallelSlots], id[kParallelIds];
  __shared__ double score[kParallelSlots];
  __shared__ bool miss[kParallelIds], evict[kParallelSlots];
  __shared__ std::int64_t hit_slot[kParallelIds], counters[4];
  __shared__ int cached, missing;
  const int t = threadIdx.x;
  const int capacity = int(s.capacity);
  if (t == 0) {
    cached = missing = 0;
    // Read here, beside the other loads: the last thread's loop below then waits on no load.
    counters[0] = s.counters[kClock];
    counters[1] = s.counters[kEntered];
    counters[2] = s.counters[kHits];
    counters[3] = s.counters[kMisses];
  }
  __syncthreads();
  int my_cached = 0, my_missing = 0;
  for (int i = t; i < capacity; i += blockDim.x) {
    block[i] = s.slot_block[i];
    score[i] = s.slot_score[i];
    entered[i] = s.slot_entered[i];
    my_cached += block[i] >= 0;
  }
  for (int i = t; i < int(n); i += blockDim.x) {
    id[i] = ids[i];
    hit_slot[i] = s.block_slot[id[i]];  // eviction below never takes a block that is asked for
    miss[i] = hit_slot[i] < 0;
    my_missing += miss[i];
  }
  atomicAdd(&cached, my_cached);
  atomicAdd(&missing, my_missing);
  __syncthreads();
  const int to_remove = cached + missing - capacity;
  if (to_remove > 0) {
    const auto eligible = [&](int i) { return block[i] >= 0 && !detail::contains(id, n, block[i]); };
    for (int i = t; i < capacity; i += blockDim.x) {
      evict[i] = false;
      if (!eligible(i)) continue;
      int rank = 0;
      for (int j = 0; j < capacity; ++j)
        if (j != i && eligible(j) && (score[j] < score[i] || (score[j] == score[i] && entered[j] < entered[i]))) ++rank;
      evict[i] = rank < to_remove;
    }
    __syncthreads();
    for (int i = t; i < capacity; i += blockDim.x)
      if (evict[i]) {
        s.block_slot[block[i]] = -1;
        s.slot_block[i] = -1;
        block[i] = -1;
      }
    __syncthreads();
  }
  if (t != 0) return;
  const std::int64_t clock = counters[0] + 1;
  s.counters[kClock] = clock;
  std::int64_t next_entry = counters[1], hits = 0, misses = 0;
  int free_from = 0;  // slots below it are taken: misses take free slots in increasing order
  for (int i = 0; i < int(n); ++i) {
    std::int64_t at = -1;
    if (miss[i]) {
      ++misses;
      while (free_from < capacity && block[free_from] >= 0) ++free_from;
      if (free_from < capacity) {
        at = free_from;
        block[at] = id[i];
        s.slot_block[at] = id[i];
        s.block_slot[id[i]] = at;
        s.slot_entered[at] = next_entry++;
      }
    } else {
      ++hits;
      at = hit_slot[i];
    }
    if (at >= 0) s.slot_score[at] = lru ? double(clock) : 0.0;
    slot[i] = at;
    missed[i] = miss[i];
  }
  s.counters[kEntered] = next_entry;
  s.counters[kHits] = counters[2] + hits;
  s.counters[kMisses] = counters[3] + misses;
}

__device__ inline bool aligned(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 16 == 0; }

// Four words in flight per thread: a block that missed is read from host memory over the bus,
// where each load waits microseconds.
template <typename Word>
__device__ void copy_run(const char* __restrict__ src, char* __restrict__ dst, char* __restrict__ also,
                         std::int64_t bytes) {
  constexpr int kUnroll = 4;
  const auto* s = reinterpret_cast<const Word*>(src);
  auto* d = reinterpret_cast<Word*>(dst);
  auto* a = reinterpret_cast<Word*>(also);
  const std::int64_t words = bytes / std::int64_t(sizeof(Word)), step = blockDim.x;
  for (std::int64_t base = threadIdx.x; base < words; base += kUnroll * step) {
    Word w[kUnroll]{};
#pragma unroll
    for (int u = 0; u < kUnroll; ++u)
      if (base + u * step < words) w[u] = s[base + u * step];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u)
      if (base + u * step < words) {
        d[base + u * step] = w[u];
        if (a) a[base + u * step] = w[u];
      }
  }
}

__device__ void copy_row(std::int64_t row_bytes, const RowCopy& r) {
  if (row_bytes % 16 == 0 && aligned(r.src) && aligned(r.dst) && (!r.also || aligned(r.also)))
    copy_run<uint4>(r.src, r.dst, r.also, row_bytes);
  else
    copy_run<char>(r.src, r.dst, r.also, row_bytes);
}

// The rows taken in turn by the grid's thread blocks: a block per row (the default), or a few
// blocks that each hold an SM (QREAD_GATHER_SMS: they ask for more shared memory than leaves
// room for another kernel's block, and use none), so that reads of host memory wait on those SMs
// only, not beside the blocks of the kernels that run meanwhile.
constexpr int kFewThreads = 1024;  // threads of a block that holds an SM
__global__ void __launch_bounds__(kFewThreads) gather_kernel(GatherArgs a) {
  const std::int64_t items = a.n * a.heads * 2;
  for (std::int64_t item = blockIdx.x; item < items; item += gridDim.x) {
    const std::int64_t i = item / (2 * a.heads), rest = item - i * 2 * a.heads;
    const RowCopy row = gather_row(a, i, rest / 2, rest % 2 == 1);
    copy_row(a.row_bytes, row);
    if (row.staged && rest == 0 && threadIdx.x == 0 && a.staged_used)
      atomicAdd(reinterpret_cast<unsigned long long*>(a.staged_used), 1ull);
  }
}

// The (block, head, keys | values) rows taken in turn by the grid's thread blocks, as in
// gather_kernel; the thread block with a block's first row also writes its staging entry.
__global__ void __launch_bounds__(kFewThreads) stage_kernel(StageArgs a, std::int64_t* counters) {
  for (std::int64_t item = blockIdx.x; item < a.n * a.heads * 2; item += gridDim.x) {
    const std::int64_t i = item / (2 * a.heads), rest = item - i * 2 * a.heads;
    const RowCopy row = stage_row(a, i, rest / 2, rest % 2 == 1);
    if (row.src) copy_row(a.row_bytes, row);
    if (rest == 0 && threadIdx.x == 0) {
      a.stage_block[i] = row.src ? a.ids[i] : -1;
      if (row.src) atomicAdd(reinterpret_cast<unsigned long long*>(counters + kStaged), 1ull);
    }
  }
}

// Row `row`'s bytes from `first` on, every `step`-th 16 bytes (or byte).
__device__ void copy_part(const char* src, std::int64_t src_pitch, char* dst, std::int64_t dst_pitch,
                          std::int64_t width, std::int64_t row, std::int64_t first, std::int64_t step) {
  const char* s = src + row * src_pitch;
  char* d = dst + row * dst_pitch;
  if (width % 16 == 0 && aligned(s) && aligned(d)) {
    const auto* s4 = reinterpret_cast<const uint4*>(s);
    auto* d4 = reinterpret_cast<uint4*>(d);
    for (std::int64_t i = first; i < width / 16; i += step) d4[i] = s4[i];
  } else {
    for (std::int64_t i = first; i < width; i += step) d[i] = s[i];
  }
}

// Rows split in `parts` parts of a thread block each; the (row, part) pairs taken in turn by the
// grid's thread blocks (as gather_kernel: one per pair, or a few that each hold an SM).
__global__ void __launch_bounds__(kFewThreads) copy_rows_kernel(const char* src, std::int64_t src_pitch, char* dst,
                                                                 std::int64_t dst_pitch, std::int64_t width,
                                                                 std::int64_t rows, std::int64_t parts) {
  for (std::int64_t item = blockIdx.x; item < rows * parts; item += gridDim.x)
    copy_part(src, src_pitch, dst, dst_pitch, width, item / parts, item % parts * blockDim.x + threadIdx.x,
              parts * blockDim.x);
}

constexpr int kScoreWarps = 8, kMaxSelected = 1024;
// The effective query (query + weight * question) is staged in shared memory up to this many
// floats (48 KB: 96 heads of 128); wider rows read it from global memory.
constexpr int kMaxStagedQuery = 12288;
// Scores are staged in shared memory for the top-k rounds up to this many blocks (32 KB).
constexpr int kMaxStagedScores = 8192;

// One warp per block: its representative row against the (question-weighted) mean query. The
// thread block first writes the effective query to shared memory; each lane then reads 16 bytes
// of the row at a time, all of them independent (a lane used to wait on one element per step).
template <typename T>
__global__ void block_scores_kernel(const T* __restrict__ repr, std::int64_t n, int heads, int dim,
                                    const float* __restrict__ query, std::int64_t query_head_stride,
                                    const T* __restrict__ question, float weight, float* __restrict__ scores) {
  float* staged = dynamic_shared<float>();
  const int width = heads * dim;
  const bool stage = width <= kMaxStagedQuery;
  const auto effective = [&](int e) {
    float q = query[std::int64_t(e / dim) * query_head_stride + e % dim];
    return question ? q + weight * to_float(question[e]) : q;
  };
  if (stage) {
    // Four elements per load where the layout allows, all loads of a thread in flight at once
    // (one element at a time, each thread waited on its loads 16 times in a row).
    const bool quads = dim % 4 == 0 && query_head_stride % 4 == 0 && aligned(query) &&
                       reinterpret_cast<std::uintptr_t>(question) % sizeof(Pack<T, 4>) == 0;
    if (quads) {
#pragma unroll 4
      for (int e = threadIdx.x * 4; e < width; e += blockDim.x * 4) {
        const int h = e / dim;
        const float4 q = *reinterpret_cast<const float4*>(query + h * query_head_stride + (e - h * dim));
        float v[4] = {q.x, q.y, q.z, q.w};
        if (question) {
          const auto w = *reinterpret_cast<const Pack<T, 4>*>(question + e);
#pragma unroll
          for (int i = 0; i < 4; ++i) v[i] += weight * to_float(w.v[i]);
        }
#pragma unroll
        for (int i = 0; i < 4; ++i) staged[e + i] = v[i];
      }
    } else {
      for (int e = threadIdx.x; e < width; e += blockDim.x) staged[e] = effective(e);
    }
    __syncthreads();
  }
  const std::int64_t b = std::int64_t(blockIdx.x) * kScoreWarps + threadIdx.x / 32;
  if (b >= n) return;
  const int lane = threadIdx.x % 32;
  const T* row = repr + b * width;
  constexpr int V = 16 / sizeof(T);
  float sum = 0.f;
  if (stage && width % (32 * V) == 0 && aligned(repr)) {
    // kInFlight loads of 16 bytes issued before any is used (a Llama-3-8B row is 16 per lane).
    constexpr int kInFlight = 8;
    for (int e0 = lane * V; e0 < width; e0 += kInFlight * 32 * V) {
      uint4 raw[kInFlight];
#pragma unroll
      for (int u = 0; u < kInFlight; ++u)
        if (e0 + u * 32 * V < width) raw[u] = *reinterpret_cast<const uint4*>(row + e0 + u * 32 * V);
#pragma unroll
      for (int u = 0; u < kInFlight; ++u) {
        if (e0 + u * 32 * V >= width) break;
        const T* values = reinterpret_cast<const T*>(&raw[u]);
        const int e = e0 + u * 32 * V;
#pragma unroll
        for (int i = 0; i < V; ++i) sum += to_float(values[i]) * staged[e + i];
      }
    }
  } else {
    for (int e = lane; e < width; e += 32) sum += to_float(row[e]) * (stage ? staged[e] : effective(e));
  }
  for (int offset = 16; offset > 0; offset /= 2) sum += __shfl_down_sync(0xffffffffu, sum, offset);
  if (lane == 0) scores[b] = isnan(sum) ? -INFINITY : sum;
}

// Picks the k largest of values[0, n) in turn (ties to the lower index; NaN never, and each one
// picked becomes NaN) by one warp: lane l keeps the best of indices l, l + 32, ..., the warp agrees
// on the overall best by shuffles (a total order, so every lane holds the same), and only the lane
// that held it scans again. Lane 0 writes the picks to chosen[0, k) in order (-1 where none is
// left). The whole warp calls it; values[i] is read and written by lane i % 32 only.
__device__ inline void warp_pick_largest(float* values, std::int64_t n, std::int64_t k, int* chosen) {
  const int lane = threadIdx.x % 32;
  const auto better = [](float v, int x, float value, int index) {
    return x >= 0 && (index < 0 || v > value || (v == value && x < index));
  };
  auto scan = [&](float& value, int& index) {
    value = -INFINITY;
    index = -1;
    for (std::int64_t b = lane; b < n; b += 32) {
      const float v = values[b];
      if (!isnan(v) && better(v, int(b), value, index)) value = v, index = int(b);
    }
  };
  float mine;
  int mine_index;
  scan(mine, mine_index);
  for (std::int64_t j = 0; j < k; ++j) {
    float value = mine;
    int index = mine_index;
    for (int offset = 16; offset > 0; offset /= 2) {
      const float v = __shfl_xor_sync(0xffffffffu, value, offset);
      const int x = __shfl_xor_sync(0xffffffffu, index, offset);
      if (better(v, x, value, index)) value = v, index = x;
    }
    if (lane == 0) chosen[j] = index;
    if (index >= 0 && index % 32 == lane) {
      values[index] = NAN;
      scan(mine, mine_index);
    }
  }
  __syncwarp();  // chosen[] is read by every lane after
}

// The k best of n scores, their indices ascending: k rounds of arg-max over the whole thread block
// (ties to the lower index), a chosen score marked NaN, the scores in shared memory when they fit.
// (One warp picking, as the representatives do, was slower here: each lane's slice is n / 32 long
// and the winner scans it again every round; on the H100, 28.5 against 17 us for 800 blocks and
// 208 against 64 us for 8,000.)
constexpr int kTopThreads = 256;
__global__ void top_blocks_kernel(float* scores, std::int64_t n, std::int64_t k, std::int64_t* ids) {
  __shared__ float staged[kMaxStagedScores];
  __shared__ float best_value[kTopThreads / 32];
  __shared__ int best_index[kTopThreads / 32];
  __shared__ int chosen[kMaxSelected];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  float* values = n <= kMaxStagedScores ? staged : scores;
  if (values == staged)
    for (std::int64_t b = threadIdx.x; b < n; b += blockDim.x) staged[b] = scores[b];
  __syncthreads();
  const auto better = [](float v, int x, float value, int index) {
    return x >= 0 && (index < 0 || v > value || (v == value && x < index));
  };
  for (std::int64_t j = 0; j < k; ++j) {
    float value = -INFINITY;
    int index = -1;
    for (std::int64_t b = threadIdx.x; b < n; b += blockDim.x) {
      const float v = values[b];
      if (!isnan(v) && better(v, int(b), value, index)) value = v, index = int(b);
    }
    for (int offset = 16; offset > 0; offset /= 2) {
      const float v = __shfl_down_sync(0xffffffffu, value, offset);
      const int x = __shfl_down_sync(0xffffffffu, index, offset);
      if (better(v, x, value, index)) value = v, index = x;
    }
    if (lane == 0) best_value[warp] = value, best_index[warp] = index;
    __syncthreads();
    if (warp == 0) {
      // The warps' winners, reduced by the first warp.
      value = lane < kTopThreads / 32 ? best_value[lane] : -INFINITY;
      index = lane < kTopThreads / 32 ? best_index[lane] : -1;
      for (int offset = 16; offset > 0; offset /= 2) {
        const float v = __shfl_down_sync(0xffffffffu, value, offset);
        const int x = __shfl_down_sync(0xffffffffu, index, offset);
        if (better(v, x, value, index)) value = v, index = x;
      }
      if (lane == 0) {
        chosen[j] = index;  // -1 only where fewer than k are left (NaN input)
        if (index >= 0) values[index] = NAN;
      }
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    for (std::int64_t i = 1; i < k; ++i)
      for (std::int64_t j = i; j > 0 && chosen[j - 1] > chosen[j]; --j) {
        const int t = chosen[j];
        chosen[j] = chosen[j - 1];
        chosen[j - 1] = t;
      }
    for (std::int64_t i = 0; i < k; ++i) ids[i] = chosen[i];
  }
}

// One warp per (memory block, query head), kRepresentativeWarps of them per thread block: the
// block's scores for that head in shared memory, the r best picked by warp_pick_largest (ties to
// the lower position); then the mean of the chosen keys over the head dimension, in the order
// chosen. (A thread block per pair, with two barriers per round, took 9.7 us per execution block
// of the Llama-3-8B shape: 4 blocks x 32 heads.)
constexpr int kRepresentativeWarps = 4, kMaxBlockTokens = 1024;

template <typename T>
__global__ void representatives_kernel(const T* __restrict__ keys, std::int64_t key_head_stride,
                                       const float* __restrict__ scores, std::int64_t score_stride, T* __restrict__ out,
                                       std::int64_t n, std::int64_t block, std::int64_t heads, std::int64_t group,
                                       std::int64_t dim, std::int64_t r) {
  __shared__ float staged[kRepresentativeWarps][kMaxBlockTokens];
  __shared__ int chosen[kRepresentativeWarps][kMaxBlockTokens];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const std::int64_t pair = std::int64_t(blockIdx.x) * kRepresentativeWarps + warp;
  if (pair >= n * heads) return;  // a whole warp; the kernel has no block-wide barrier
  const std::int64_t i = pair / heads, h = pair - i * heads;
  float* score = staged[warp];
  for (std::int64_t t = lane; t < block; t += 32) score[t] = scores[h * score_stride + i * block + t];
  warp_pick_largest(score, block, r, chosen[warp]);  // r <= block, no NaN score: never -1
  const T* head_keys = keys + (h / group) * key_head_stride + i * block * dim;
  T* row = out + (i * heads + h) * dim;
  for (std::int64_t d = lane; d < dim; d += 32) {
    float sum = 0.f;
    for (std::int64_t j = 0; j < r; ++j) sum += to_float(head_keys[std::int64_t(chosen[warp][j]) * dim + d]);
    row[d] = from_float<T>(sum / float(r));
  }
}

}  // namespace
}  // namespace qread::kernels
