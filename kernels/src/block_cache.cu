// The block cache policy runs in one thread block with the slots in shared memory (up to 1024
// slots; beyond, block_cache_retrieve itself in one thread); the copies run on a grid of (block,
// head, keys|values), 16 bytes per load and four loads in flight per thread where the addresses
// allow, or (QREAD_GATHER_SMS) on a few thread blocks that each hold an SM. Representative keys:
// one warp per (memory block, query head) picks the top r scores by repeated arg-max, then
// averages. Block selection: a warp per block scores it (16-byte loads against the effective query
// in shared memory), then one thread block picks the top k in rounds, the scores in shared memory.
// Copies to host memory are kernels writing through the memory's device address; copies ahead
// (staging) a kernel like the gather's, reading host memory. The kernels themselves are in
// block_cache.cuh.
#include "qread/kernels/block_cache.hpp"

#include "block_cache.cuh"
#include "element_access.cuh"

#include <cuda_runtime.h>
#include <sys/mman.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>

namespace qread::kernels {
namespace {

void check(cudaError_t err, const char* what) {
  if (err != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(err));
}

// The shared memory a kernel that holds an SM asks for: all one thread block may have on the
// current device, so that no other kernel's block that uses shared memory fits beside it (none is
// used). Allowed for every such kernel on the first call per device.
int holding_bytes() {
  static std::mutex mutex;
  static std::map<int, int> bytes;
  int device = 0;
  check(cudaGetDevice(&device), "holding an SM");
  std::lock_guard lock(mutex);
  if (auto it = bytes.find(device); it != bytes.end()) return it->second;
  int most = 0;
  check(cudaDeviceGetAttribute(&most, cudaDevAttrMaxSharedMemoryPerBlockOptin, device), "holding an SM");
  check(cudaFuncSetAttribute(gather_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, most), "holding an SM");
  check(cudaFuncSetAttribute(copy_rows_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, most), "holding an SM");
  check(cudaFuncSetAttribute(stage_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, most), "holding an SM");
  return bytes[device] = most;
}

}  // namespace

void block_representatives_cuda(const void* keys, std::int64_t key_head_stride, const float* scores,
                                std::int64_t score_stride, void* out, std::int64_t n, std::int64_t block,
                                std::int64_t heads, std::int64_t group, std::int64_t dim, std::int64_t r,
                                ElementType type, void* stream) {
  if (n <= 0) return;
  if (r < 1 || r > block || block > kMaxBlockTokens || (n * heads + kRepresentativeWarps - 1) / kRepresentativeWarps > 0x7fffffff)
    throw std::runtime_error("block_representatives_cuda: unsupported shape (1 <= r <= block <= 1024)");
  const auto grid = static_cast<unsigned>((n * heads + kRepresentativeWarps - 1) / kRepresentativeWarps);
  auto s = static_cast<cudaStream_t>(stream);
  with_element_type(type, [&](auto element) {
    using T = typename decltype(element)::type;
    representatives_kernel<T><<<grid, 32 * kRepresentativeWarps, 0, s>>>(
        static_cast<const T*>(keys), key_head_stride, scores, score_stride, static_cast<T*>(out), n, block, heads,
        group, dim, r);
  });
  check_launch("block_representatives_cuda");
}

void* allocate_pinned(std::int64_t bytes) {
  void* memory = mmap(nullptr, std::size_t(bytes), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) return nullptr;
  madvise(memory, std::size_t(bytes), MADV_HUGEPAGE);  // a hint; fine when refused
  // The pages are made present before they are registered. The kernel's own prefault (Linux
  // 5.14+) zeroes each page once; touching them from here zeroed them twice (the fault, then
  // the memset), which was 70% of the time on the H100 machine (1 GB: 266 ms, register 106 ms).
#ifdef MADV_POPULATE_WRITE
  if (madvise(memory, std::size_t(bytes), MADV_POPULATE_WRITE) != 0)
#endif
    std::memset(memory, 0, std::size_t(bytes));
  // This runs on the block store's helper thread while the decoding thread may be capturing a
  // CUDA graph. A capture in the default (global) mode forbids other threads the calls that may
  // synchronise, page-locking among them, and the refused call breaks the capture. Page-locking
  // queues nothing on any stream, so this thread asks for the relaxed mode for the call.
  cudaStreamCaptureMode mode = cudaStreamCaptureModeRelaxed;
  cudaThreadExchangeStreamCaptureMode(&mode);
  const cudaError_t registered =
      cudaHostRegister(memory, std::size_t(bytes), cudaHostRegisterPortable | cudaHostRegisterMapped);
  cudaThreadExchangeStreamCaptureMode(&mode);  // back to this thread's mode
  if (registered != cudaSuccess) {
    cudaGetLastError();  // clear the sticky-free error state
    munmap(memory, std::size_t(bytes));
    return nullptr;
  }
  return memory;
}

void free_pinned(void* memory, std::int64_t bytes) {
  if (!memory) return;
  cudaDeviceSynchronize();
  cudaHostUnregister(memory);
  munmap(memory, std::size_t(bytes));
}

void copy_rows_cuda(void* dst, std::int64_t dst_pitch, const void* src, std::int64_t src_pitch, std::int64_t width,
                    std::int64_t rows, void* stream, int sms) {
  if (rows <= 0 || width <= 0) return;
  // A block per row and part, enough parts per row to keep the copy at the link's rate (about
  // 16 KB each); or `sms` blocks of kFewThreads holding an SM each, a row at a time.
  const std::int64_t parts = sms > 0 ? 1 : std::min<std::int64_t>(64, (width + 16383) / 16384);
  if (sms <= 0 && rows * parts > 0x7fffffff) throw std::runtime_error("copy_rows_cuda: too many rows");
  const auto grid = static_cast<unsigned>(sms > 0 ? sms : rows * parts);
  copy_rows_kernel<<<grid, sms > 0 ? kFewThreads : 256, sms > 0 ? holding_bytes() : 0,
                     static_cast<cudaStream_t>(stream)>>>(static_cast<const char*>(src), src_pitch,
                                                          static_cast<char*>(dst), dst_pitch, width, rows, parts);
  check_launch("copy_rows_cuda");
}

void select_blocks_cuda(const void* repr, std::int64_t n, std::int64_t heads, std::int64_t dim, const float* query,
                        std::int64_t query_head_stride, const void* question, float weight, std::int64_t k,
                        float* scratch, std::int64_t* ids, ElementType type, void* stream) {
  k = std::min(k, n);
  if (k <= 0) return;
  if (k > kMaxSelected || n > 0x7fffffff) throw std::runtime_error("select_blocks_cuda: k above 1024 or too many blocks");
  auto s = static_cast<cudaStream_t>(stream);
  if (heads * dim > INT_MAX / 2) throw std::runtime_error("select_blocks_cuda: rows too wide");
  const auto grid = static_cast<unsigned>((n + kScoreWarps - 1) / kScoreWarps);
  const std::size_t shared = heads * dim <= kMaxStagedQuery ? std::size_t(heads * dim) * sizeof(float) : 0;
  with_element_type(type, [&](auto element) {
    using T = typename decltype(element)::type;
    block_scores_kernel<T><<<grid, 32 * kScoreWarps, shared, s>>>(
        static_cast<const T*>(repr), n, int(heads), int(dim), query, query_head_stride,
        static_cast<const T*>(question), weight, scratch);
  });
  check_launch("select_blocks_cuda: scores");
  top_blocks_kernel<<<1, kTopThreads, 0, s>>>(scratch, n, k, ids);
  check_launch("select_blocks_cuda: top-k");
}

void block_cache_retrieve_cuda(BlockCacheState state, const std::int64_t* ids, std::int64_t n, bool lru,
                               std::int64_t* slot, std::uint8_t* missed, const std::int64_t* host_k,
                               const std::int64_t* host_v, std::int64_t host_head_bytes, PendingBlocks pending,
                               StagedBlocks staged, void* cache_k, void* cache_v, void* out_k, void* out_v,
                               std::int64_t heads,
                               std::int64_t row_bytes, std::int64_t out_head_bytes, int gather_sms, void* stream) {
  if (n <= 0) return;
  if (n > 65535 || heads > 65535) throw std::runtime_error("block_cache_retrieve_cuda: too many blocks or heads");
  auto s = static_cast<cudaStream_t>(stream);
  if (state.capacity <= kParallelSlots && n <= kParallelIds)
    parallel_policy_kernel<<<1, kPolicyThreads, 0, s>>>(state, ids, n, lru, slot, missed);
  else
    retrieve_policy_kernel<<<1, 1, 0, s>>>(state, ids, n, lru, slot, missed);
  check_launch("block_cache_retrieve_cuda: policy");
  const GatherArgs args{ids, n, slot, missed, host_k, host_v, host_head_bytes, pending,
                        static_cast<char*>(cache_k), static_cast<char*>(cache_v), static_cast<char*>(out_k),
                        static_cast<char*>(out_v), heads, row_bytes, out_head_bytes, staged,
                        state.counters + kStagedUsed};
  if (gather_sms > 0)
    gather_kernel<<<static_cast<unsigned>(gather_sms), kFewThreads, holding_bytes(), s>>>(args);
  else
    gather_kernel<<<static_cast<unsigned>(n * heads * 2), 256, 0, s>>>(args);
  check_launch("block_cache_retrieve_cuda: copy");
}

void block_cache_stage_cuda(const StageArgs& args, std::int64_t* counters, int sms, void* stream) {
  if (args.n <= 0) return;
  if (args.n > 65535 || args.heads > 65535) throw std::runtime_error("block_cache_stage_cuda: too many blocks or heads");
  auto s = static_cast<cudaStream_t>(stream);
  if (sms > 0)
    stage_kernel<<<static_cast<unsigned>(sms), kFewThreads, holding_bytes(), s>>>(args, counters);
  else
    stage_kernel<<<static_cast<unsigned>(args.n * args.heads * 2), 256, 0, s>>>(args, counters);
  check_launch("block_cache_stage_cuda");
}

void block_cache_add_scores_cuda(BlockCacheState state, const std::int64_t* ids, std::int64_t n,
                                 const float* attention, double decay, void* stream) {
  add_scores_kernel<<<1, 1, 0, static_cast<cudaStream_t>(stream)>>>(state, ids, n, attention, decay);
  check_launch("block_cache_add_scores_cuda");
}

std::int64_t device_address_of_host_memory(const void* host) {
  void* device = nullptr;
  check(cudaHostGetDevicePointer(&device, const_cast<void*>(host), 0),
        "device_address_of_host_memory (is the memory page-locked?)");
  return static_cast<std::int64_t>(reinterpret_cast<std::uintptr_t>(device));
}

}  // namespace qread::kernels
