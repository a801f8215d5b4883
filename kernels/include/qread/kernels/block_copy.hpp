// Where the block store's gather kernel reads and writes, as plain code compiled for the host and
// the device (like the policy in block_cache.hpp): each row's source is its cache slot, the last
// blocks added (still on the device) or host memory. The kernel (block_cache.cu) runs these
// lines; the CPU tests run them for every row and check what lands where.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define QREAD_COPY_HOST_DEVICE __host__ __device__
#else
#define QREAD_COPY_HOST_DEVICE
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

// One row to copy: src to dst, and also to `also` when not null.
struct RowCopy {
  const char* src;
  char* dst;
  char* also;
};

// The rows of a retrieval are (keys | values, head, block) in that order: row r is
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
// missed[i], from the pending blocks or else host memory (host_k[id] + h * host_head_bytes), and
// then also into its new slot.
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
  std::int64_t heads, row_bytes;
};

QREAD_COPY_HOST_DEVICE inline RowCopy gather_row(const GatherArgs& a, std::int64_t r) {
  const auto [i, h, values] = row_index(r, a.n, a.heads);
  const std::int64_t id = a.ids[i], at = a.slot[i];
  char* cached =
      at >= 0 ? (values ? a.cache_v : a.cache_k) + (at * a.heads + h) * a.row_bytes : nullptr;
  char* dst = (values ? a.out_v : a.out_k) + (h * a.n + i) * a.row_bytes;
  if (!a.missed[i]) return {cached, dst, nullptr};
  const bool pending = id >= a.pending.first && id < a.pending.first + a.pending.count;
  const char* src =
      pending ? static_cast<const char*>(values ? a.pending.v : a.pending.k) + h * a.pending.head_bytes +
                    (id - a.pending.first) * a.row_bytes
              : reinterpret_cast<const char*>((values ? a.host_v : a.host_k)[id]) + h * a.host_head_bytes;
  return {src, dst, cached};
}

}  // namespace qread::kernels
