// Where the block store's copy kernels read and write, as plain code compiled for the host and
// the device (like the policy in block_cache.hpp). A retrieval's gather picks each row's source:
// its cache slot, the last blocks added (still on the device), the staging area, or host memory.
// Staging picks the rows it copies ahead. The narrow copies spread 16-byte words over any number
// of threads. The kernels (block_cache.cu) run these lines; the CPU tests run them for every
// thread of a grid in turn and check what lands where.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define QREAD_COPY_HOST_DEVICE __host__ __device__
#define QREAD_COPY_UNROLL _Pragma("unroll")
#else
#define QREAD_COPY_HOST_DEVICE
#define QREAD_COPY_UNROLL
#endif

namespace qread::kernels {

// Blocks [first, first + count) are read from device memory instead of host memory (their copy
// to host memory is not queued yet): block first + j's head h at k + h * head_bytes + j *
// row_bytes (and likewise from v).
struct PendingBlocks {
  std::int64_t first = 0, count = 0;
  const void* k = nullptr;
  const void* v = nullptr;
  std::int64_t head_bytes = 0;
};

// Blocks copied ahead of a retrieval (block_cache_stage_cuda): misses among ids[0, count) are
// read from the staging area, entry j's head h at k + (j * heads + h) * row_bytes (and v).
struct StagedBlocks {
  const std::int64_t* ids = nullptr;  // -1 for an entry not staged
  std::int64_t count = 0;
  const void* k = nullptr;
  const void* v = nullptr;
};

// One row to copy: src to dst, and also to `also` when not null. A null dst skips the row.
struct RowCopy {
  const char* src;
  char* dst;
  char* also;
};

// The rows of a retrieval or a staging are (keys | values, head, block) in that order: row r is
// block r % n, head (r / n) % heads, values when r >= n * heads.
struct RowIndex {
  std::int64_t block, head;
  bool values;
};
QREAD_COPY_HOST_DEVICE inline RowIndex row_index(std::int64_t r, std::int64_t n,
                                                 std::int64_t heads) {
  return {r % n, (r / n) % heads, r >= n * heads};
}

// A retrieval's copy: block ids[i] (i < n) goes to row (h * n + i) of out_k / out_v (row_bytes
// each), from its cache slot slot[i] (row (slot * heads + h) of cache_k / cache_v) or, when
// missed[i], from the pending blocks, the staging area, or host memory (host_k[id] + h *
// host_head_bytes), in that order, and then also into its new slot.
struct GatherArgs {
  const std::int64_t* ids;
  std::int64_t n;
  const std::int64_t* slot;
  const std::uint8_t* missed;
  const std::int64_t* host_k;
  const std::int64_t* host_v;
  std::int64_t host_head_bytes;
  PendingBlocks pending;
  StagedBlocks staged;
  char *cache_k, *cache_v, *out_k, *out_v;
  std::int64_t heads, row_bytes;
};

QREAD_COPY_HOST_DEVICE inline RowCopy gather_row(const GatherArgs& a, std::int64_t r) {
  const auto [i, h, values] = row_index(r, a.n, a.heads);
  const std::int64_t id = a.ids[i], at = a.slot[i];
  char* cached =
      at >= 0 ? (values ? a.cache_v : a.cache_k) + (at * a.heads + h) * a.row_bytes : nullptr;
  char* dst = (values ? a.out_v : a.out_k) + (h * a.n + i) * a.row_bytes;
  if (!a.missed[i]) return {cached, dst, nullptr};
  const char* src = nullptr;
  if (id >= a.pending.first && id < a.pending.first + a.pending.count) {
    src = static_cast<const char*>(values ? a.pending.v : a.pending.k) + h * a.pending.head_bytes +
          (id - a.pending.first) * a.row_bytes;
  } else {
    for (std::int64_t j = 0; j < a.staged.count && !src; ++j)
      if (a.staged.ids[j] == id)
        src = static_cast<const char*>(values ? a.staged.v : a.staged.k) +
              (j * a.heads + h) * a.row_bytes;
    if (!src)
      src =
          reinterpret_cast<const char*>((values ? a.host_v : a.host_k)[id]) + h * a.host_head_bytes;
  }
  return {src, dst, cached};
}

// Copying ahead: of blocks ids[0, n), those below `ready` (whose host copies the stream is
// ordered after) and not cached (block_slot[id] >= 0) go from host memory to entry i of stage_k /
// stage_v (head h at + (i * heads + h) * row_bytes), and staged[i] says which (the id, or -1).
struct StageArgs {
  const std::int64_t* ids;
  std::int64_t n;
  const std::int64_t* block_slot;
  const std::int64_t* host_k;
  const std::int64_t* host_v;
  std::int64_t host_head_bytes;
  std::int64_t ready;
  std::int64_t* staged;
  char *stage_k, *stage_v;
  std::int64_t heads, row_bytes;
};

QREAD_COPY_HOST_DEVICE inline bool stage_wanted(const StageArgs& a, std::int64_t i) {
  const std::int64_t id = a.ids[i];
  return id < a.ready && a.block_slot[id] < 0;
}

QREAD_COPY_HOST_DEVICE inline RowCopy stage_row(const StageArgs& a, std::int64_t r) {
  const auto [i, h, values] = row_index(r, a.n, a.heads);
  if (!stage_wanted(a, i)) return {nullptr, nullptr, nullptr};
  return {reinterpret_cast<const char*>((values ? a.host_v : a.host_k)[a.ids[i]]) +
              h * a.host_head_bytes,
          (values ? a.stage_v : a.stage_k) + (i * a.heads + h) * a.row_bytes, nullptr};
}

// 16 bytes, moved by one load and one store (as CUDA's uint4; one type on both sides, so that
// the host and device compilations of the lines below agree).
struct alignas(16) Word16 {
  std::uint32_t x, y, z, w;
};

// One thread's share of copying `words` 16-byte words of `rows` (row_words each, all addresses
// 16-byte aligned): words first, first + step, ..., InFlight of them loaded before any is stored.
template <int InFlight>
QREAD_COPY_HOST_DEVICE inline void copy_words(const RowCopy* rows, std::int64_t row_words,
                                              std::int64_t words, std::int64_t first,
                                              std::int64_t step) {
  for (std::int64_t base = first; base < words; base += InFlight * step) {
    Word16 w[InFlight];
    QREAD_COPY_UNROLL
    for (int u = 0; u < InFlight; ++u)
      if (const std::int64_t x = base + u * step; x < words) {
        const RowCopy& r = rows[x / row_words];
        if (r.dst) w[u] = reinterpret_cast<const Word16*>(r.src)[x % row_words];
      }
    QREAD_COPY_UNROLL
    for (int u = 0; u < InFlight; ++u)
      if (const std::int64_t x = base + u * step; x < words) {
        const RowCopy& r = rows[x / row_words];
        if (!r.dst) continue;
        reinterpret_cast<Word16*>(r.dst)[x % row_words] = w[u];
        if (r.also) reinterpret_cast<Word16*>(r.also)[x % row_words] = w[u];
      }
  }
}

// One thread's share of copying `rows` rows of row_words 16-byte words from src (a row every
// src_pitch bytes) to dst (every dst_pitch bytes), as copy_words.
template <int InFlight>
QREAD_COPY_HOST_DEVICE inline void copy_pitched_words(const char* src, std::int64_t src_pitch,
                                                      char* dst, std::int64_t dst_pitch,
                                                      std::int64_t row_words, std::int64_t rows,
                                                      std::int64_t first, std::int64_t step) {
  const std::int64_t words = rows * row_words;
  for (std::int64_t base = first; base < words; base += InFlight * step) {
    Word16 w[InFlight];
    QREAD_COPY_UNROLL
    for (int u = 0; u < InFlight; ++u)
      if (const std::int64_t x = base + u * step; x < words)
        w[u] = reinterpret_cast<const Word16*>(src + (x / row_words) * src_pitch)[x % row_words];
    QREAD_COPY_UNROLL
    for (int u = 0; u < InFlight; ++u)
      if (const std::int64_t x = base + u * step; x < words)
        reinterpret_cast<Word16*>(dst + (x / row_words) * dst_pitch)[x % row_words] = w[u];
  }
}

}  // namespace qread::kernels
