#include "memory/block_store.hpp"

#include "memory/phase_profile.hpp"

#include "qread/error.hpp"
#include "qread/kernels/block_cache.hpp"

#include <ATen/ATen.h>
#ifdef QREAD_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime_api.h>
#endif

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <mutex>
#include <optional>
#include <string_view>
#include <tuple>

namespace qread::memory {

namespace {
#ifdef QREAD_WITH_CUDA
// Page-locked regions of cleared stores, kept for the next stores: page-locking costs about as
// much as copying the memory, and the driver holds a lock meanwhile that other CUDA calls wait
// for (on the H100 machine, Q-LLM 100K spent 0.8 s waiting for arenas). Every question re-reads
// the document, so the questions after the first need no new page-locked memory. The pool holds
// at most what was in use at once before; release_pinned_arenas() empties it.
struct PinnedPool {
  std::mutex mutex;
  std::vector<std::pair<void*, std::int64_t>> regions;
};
PinnedPool& pinned_pool() {
  static auto* pool = new PinnedPool;  // never destroyed: the driver may be gone at exit
  return *pool;
}

void* take_pinned(std::int64_t bytes) {
  {
    auto& pool = pinned_pool();
    std::lock_guard lock(pool.mutex);
    for (auto it = pool.regions.begin(); it != pool.regions.end(); ++it)
      if (it->second == bytes) {
        void* memory = it->first;
        pool.regions.erase(it);
        return memory;
      }
  }
  return kernels::allocate_pinned(bytes);
}

void give_back_pinned(void* memory, std::int64_t bytes) {
  auto& pool = pinned_pool();
  std::lock_guard lock(pool.mutex);
  pool.regions.emplace_back(memory, bytes);
}
#endif

at::Tensor pinned_empty(const std::vector<std::int64_t>& shape, const at::TensorOptions& options) {
#ifdef QREAD_WITH_CUDA
  // Our own pages registered with the driver (kernels::allocate_pinned): on the H100 machine,
  // Q-LLM 100K prefill 11.6-12.1 s -> 10.8 s against PyTorch's pinned allocator, which page-locks
  // at about 2 GB/s there (QREAD_PIN=torch goes back to it).
  static const bool own_pages = [] {
    const char* v = std::getenv("QREAD_PIN");
    return !(v && std::string_view(v) == "torch");
  }();
  if (own_pages && options.pinned_memory()) {
    std::int64_t bytes = std::int64_t(c10::elementSize(options.dtype().toScalarType()));
    for (auto d : shape) bytes *= d;
    // Handed back to the pool when the store drops the arena: clear() has waited for the device.
    if (void* memory = take_pinned(bytes))
      return at::from_blob(memory, shape, [bytes](void* p) { give_back_pinned(p, bytes); },
                           options.pinned_memory(false));
  }
#endif
  return at::empty(shape, options);
}

// An arena of `arena_tokens` tokens in every head for blocks shaped as `like` ([1, Hkv, tokens, D]).
std::vector<std::int64_t> arena_shape(const at::Tensor& like, std::int64_t arena_tokens) {
  return {like.size(1), arena_tokens, like.size(3)};
}

at::TensorOptions arena_options(const at::Tensor& like) {
  return like.options().device(at::kCPU).pinned_memory(!like.is_cpu());
}

std::pair<at::Tensor, at::Tensor> make_arena(const std::vector<std::int64_t>& shape, const at::TensorOptions& options) {
  return {pinned_empty(shape, options), pinned_empty(shape, options)};
}

std::int64_t device_address(const at::Tensor& host) {
#ifdef QREAD_WITH_CUDA
  return kernels::device_address_of_host_memory(host.data_ptr());
#else
  (void)host;
  throw Error("block store: a CUDA device without a CUDA build");
#endif
}

void synchronize_device() {
#ifdef QREAD_WITH_CUDA
  c10::cuda::device_synchronize();
#endif
}

#ifdef QREAD_WITH_CUDA
void* current_stream() { return c10::cuda::getCurrentCUDAStream().stream(); }
#endif
}  // namespace

std::int64_t pinned_arena_pool_bytes() {
  std::int64_t bytes = 0;
#ifdef QREAD_WITH_CUDA
  auto& pool = pinned_pool();
  std::lock_guard lock(pool.mutex);
  for (const auto& region : pool.regions) bytes += region.second;
#endif
  return bytes;
}

void release_pinned_arenas() {
#ifdef QREAD_WITH_CUDA
  std::vector<std::pair<void*, std::int64_t>> regions;
  {
    auto& pool = pinned_pool();
    std::lock_guard lock(pool.mutex);
    regions.swap(pool.regions);
  }
  for (auto [memory, bytes] : regions) kernels::free_pinned(memory, bytes);
#endif
}

#ifdef QREAD_WITH_CUDA
struct BlockStore::Streams {
  c10::cuda::CUDAStream copy;
  cudaEvent_t to_copy = nullptr, to_current = nullptr, retrieved = nullptr;
  explicit Streams(c10::DeviceIndex device) : copy(c10::cuda::getStreamFromPool(false, device)) {
    cudaEventCreateWithFlags(&to_copy, cudaEventDisableTiming);
    cudaEventCreateWithFlags(&to_current, cudaEventDisableTiming);
    cudaEventCreateWithFlags(&retrieved, cudaEventDisableTiming);
  }
  ~Streams() {
    cudaEventDestroy(to_copy);
    cudaEventDestroy(to_current);
    cudaEventDestroy(retrieved);
  }
  // A tensor made on the current stream and used on the copy stream: the allocator must not
  // hand its memory out again before the copy stream is done with it.
  void uses(const at::Tensor& t) const { c10::cuda::CUDACachingAllocator::recordStream(t.storage().data_ptr(), copy); }
};
#else
struct BlockStore::Streams {};
#endif

void BlockStore::after_current_stream() {
#ifdef QREAD_WITH_CUDA
  cudaEventRecord(streams_->to_copy, static_cast<cudaStream_t>(current_stream()));
  cudaStreamWaitEvent(streams_->copy.stream(), streams_->to_copy, 0);
#endif
}

void BlockStore::retrieval_ready() const {
  if (!on_device_) return;
#ifdef QREAD_WITH_CUDA
  cudaStreamWaitEvent(static_cast<cudaStream_t>(current_stream()), streams_->retrieved, 0);
#endif
}

void BlockStore::ready() const {
  if (!on_device_) return;
#ifdef QREAD_WITH_CUDA
  cudaEventRecord(streams_->to_current, streams_->copy.stream());
  cudaStreamWaitEvent(static_cast<cudaStream_t>(current_stream()), streams_->to_current, 0);
#endif
}

struct BlockStore::Prefetch {
  std::vector<std::int64_t> shape;
  at::ScalarType dtype;
  std::future<std::pair<at::Tensor, at::Tensor>> arenas;
};

struct BlockStore::Policy {
  // On the memory's device: the arrays of kernels::BlockCacheState.
  at::Tensor slot_block, slot_score, slot_entered, block_slot, counters;
  // CUDA only: page-locked tables of the device addresses of each block's keys and values, and
  // older tables that queued copies may still read (kept until clear()).
  at::Tensor host_k, host_v;
  std::vector<at::Tensor> retired;

  kernels::BlockCacheState state() {
    return {slot_block.data_ptr<std::int64_t>(), slot_score.data_ptr<double>(),
            slot_entered.data_ptr<std::int64_t>(), block_slot.data_ptr<std::int64_t>(),
            counters.data_ptr<std::int64_t>(), slot_block.size(0)};
  }
};

namespace {
// A thread-block count from the environment: `unset` when the variable is not set, -1 for "off".
int env_count(const char* name, int unset) {
  const char* v = std::getenv(name);
  if (!v) return unset;
  return std::string_view(v) == "off" ? -1 : std::max(0, std::atoi(v));
}
// QREAD_GATHER_SMS=n: every store's retrieval copies with n thread blocks (set_gather_sms).
int default_gather_sms() {
  static const int n = std::max(0, env_count("QREAD_GATHER_SMS", 0));
  return n;
}
// QREAD_STAGE: "off", no store copies blocks ahead; a number, the thread blocks that copy them
// (set_stage_sms; 0: one per row).
int default_stage_sms() {
  static const int n = env_count("QREAD_STAGE", BlockStore::kDefaultStageSms);
  return n;
}
}  // namespace

BlockStore::BlockStore(std::int64_t capacity, CacheStrategy strategy, std::optional<double> score_decay,
                       const at::Device& device)
    : capacity_(capacity),
      strategy_(strategy),
      score_decay_(score_decay.value_or(1.0)),
      device_(device),
      on_device_(!device.is_cpu()),
      gather_sms_(default_gather_sms()),
      stage_sms_(default_stage_sms()) {
#ifdef QREAD_WITH_CUDA
  if (on_device_) streams_ = std::make_unique<Streams>(device.index());
#endif
  clear();
}

void BlockStore::wait_for_device() const {
  if (on_device_ && policy_ && !starts_.empty()) synchronize_device();
}

BlockStore::~BlockStore() {
  // The copy stream may still read the arenas (which go back to the pool) and the policy's arrays.
  // A destructor must not throw (that ends the program): a device that fails here has already
  // failed the work that led to it, which reported its error.
  try {
    wait_for_device();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "qread: block store: %s\n", e.what());
  }
}  // then waits for a prefetch under way
BlockStore::BlockStore(BlockStore&&) noexcept = default;
BlockStore& BlockStore::operator=(BlockStore&&) noexcept = default;

void BlockStore::clear() {
  // Copies queued on the device may still read the host arenas and tables being dropped.
  wait_for_device();
  prefetch_.reset();
  pending_ = Pending{};
  starts_.clear();
  arenas_k_.clear();
  arenas_v_.clear();
  cache_k_ = cache_v_ = stage_k_ = stage_v_ = stage_block_ = at::Tensor();
  arena_k_address_ = arena_v_address_ = 0;
  policy_ = std::make_unique<Policy>();
  auto longs = at::TensorOptions().dtype(at::kLong).device(device_);
  policy_->slot_block = at::full({capacity_}, -1, longs);
  policy_->slot_score = at::zeros({capacity_}, longs.dtype(at::kDouble));
  policy_->slot_entered = at::zeros({capacity_}, longs);
  policy_->block_slot = at::full({0}, -1, longs);
  policy_->counters = at::zeros({kernels::kBlockCacheCounters}, longs);
}

void BlockStore::grow_tables(std::int64_t blocks) {
  Policy& p = *policy_;
  if (blocks <= p.block_slot.size(0)) return;
  ready();  // the copy stream's policy runs may still write the table being copied
  const std::int64_t capacity = std::max<std::int64_t>({256, 2 * p.block_slot.size(0), blocks});
  auto block_slot = at::full({capacity}, -1, p.block_slot.options());
  block_slot.narrow(0, 0, p.block_slot.size(0)).copy_(p.block_slot);
  p.block_slot = block_slot;
  if (!on_device_) return;
  for (at::Tensor* table : {&p.host_k, &p.host_v}) {
    auto grown = at::empty({capacity}, at::TensorOptions().dtype(at::kLong).pinned_memory(true));
    if (table->defined()) {
      std::memcpy(grown.data_ptr(), table->data_ptr(), std::size_t(table->numel()) * sizeof(std::int64_t));
      p.retired.push_back(*table);
    }
    *table = grown;
  }
}

void BlockStore::next_arena(const at::Tensor& like, std::int64_t block) {
  // Arenas are [Hkv, kArenaBlocks * block, D]: a block is a run of tokens in every head, so n
  // blocks leaving the window are one strided copy (a row per head) from the device.
  const auto shape = arena_shape(like, kArenaBlocks * block);
  const auto options = arena_options(like);
  PhaseScope scope("store: next arena");
  auto [arena_k, arena_v] = prefetch_ && prefetch_->shape == shape && prefetch_->dtype == like.scalar_type()
                                ? prefetch_->arenas.get()  // rethrows the helper's failure
                                : make_arena(shape, options);
  if (on_device_) {
    arena_k_address_ = device_address(arena_k);
    arena_v_address_ = device_address(arena_v);
  }
  arenas_k_.push_back(std::move(arena_k));
  arenas_v_.push_back(std::move(arena_v));
  // Page-locking memory costs about as much as copying it (more on some virtual machines),
  // and blocks leave the window at every execution block: the next arena is made on a helper
  // thread meanwhile, as data loaders pin their batches. It costs one arena of host memory
  // ahead (2 x 16 MB per layer for the Llama-3-8B shape).
  start_prefetch(shape, options);
}

void BlockStore::start_prefetch(const std::vector<std::int64_t>& shape, const at::TensorOptions& options) {
  prefetch_ = std::make_unique<Prefetch>();
  prefetch_->shape = shape;
  prefetch_->dtype = options.dtype().toScalarType();
  prefetch_->arenas = std::async(std::launch::async, make_arena, shape, options);
}

void BlockStore::prepare(const at::Tensor& like, std::int64_t block) {
  // Without it, each layer made its first arena when its first blocks left the window, and
  // prefill waited for all of them in turn (Llama-3-8B shape: 32 x 32 MB, 0.2 s of 100K).
  if (!on_device_ || !arenas_k_.empty() || prefetch_) return;
  start_prefetch(arena_shape(like, kArenaBlocks * block), arena_options(like));
}

std::int64_t BlockStore::add(const at::Tensor& k, const at::Tensor& v, std::int64_t start) {
  return add_blocks(k, v, 1, start);
}

std::int64_t BlockStore::add_blocks(const at::Tensor& k, const at::Tensor& v, std::int64_t n, std::int64_t start) {
  const auto block = k.size(2) / n, dim = k.size(3), element = std::int64_t(k.element_size());
  const auto first = size();
  grow_tables(first + n);
  // [Hkv, n * block, D] with rows contiguous: a block is a run of rows in every head.
  auto rows_k = k.select(0, 0), rows_v = v.select(0, 0);
  if (rows_k.stride(2) != 1 || rows_k.stride(1) != dim) rows_k = rows_k.contiguous();
  if (rows_v.stride(2) != 1 || rows_v.stride(1) != dim) rows_v = rows_v.contiguous();
  if (on_device_) {
    if (!pending_.copies.empty()) {
      after_current_stream();
      flush_pending();
    }
    pending_.first = first;
    pending_.k = rows_k;
    pending_.v = rows_v;
  }
  for (std::int64_t done = 0; done < n;) {
    // Arenas fill up in order: block b is block b % kArenaBlocks of arena b / kArenaBlocks.
    std::int64_t used = size() - kArenaBlocks * (std::int64_t(arenas_k_.size()) - 1);
    if (arenas_k_.empty() || used == kArenaBlocks) {
      next_arena(k, block);
      used = 0;
    }
    const std::int64_t m = std::min(n - done, kArenaBlocks - used);
    if (on_device_) {
      // Where the retrieval's copy kernel finds each block once it is in host memory (the
      // arena's head stride is the same for all); the copy itself is queued by flush_pending().
      const std::int64_t offset = used * block * dim * element;
      pending_.copies.push_back({arena_k_address_ + offset, arena_v_address_ + offset,
                                 arenas_k_.back().stride(0) * element, done * block, m * block});
      for (std::int64_t i = 0; i < m; ++i) {
        policy_->host_k.data_ptr<std::int64_t>()[first + done + i] = arena_k_address_ + offset + i * block * dim * element;
        policy_->host_v.data_ptr<std::int64_t>()[first + done + i] = arena_v_address_ + offset + i * block * dim * element;
      }
    } else {
      arenas_k_.back().narrow(1, used * block, m * block).copy_(rows_k.narrow(1, done * block, m * block));
      arenas_v_.back().narrow(1, used * block, m * block).copy_(rows_v.narrow(1, done * block, m * block));
    }
    for (std::int64_t i = 0; i < m; ++i) starts_.push_back(start + (done + i) * block);
    done += m;
  }
  return first;
}

int BlockStore::to_host_sms() const {
  return gather_sms_ > 0 || stage_sms_ < 0 ? gather_sms_ : stage_sms_;
}

void BlockStore::flush_pending() {
  if (pending_.copies.empty()) return;
#ifdef QREAD_WITH_CUDA
  // One strided copy per tensor and arena, straight from the device layout, by a kernel writing
  // to the arena's device address (a cudaMemcpy2DAsync would wait while the helper thread
  // page-locks the next arena), on the copy stream (the caller has ordered it after the work
  // that made the blocks).
  streams_->uses(pending_.k);
  streams_->uses(pending_.v);
  const std::int64_t element = std::int64_t(pending_.k.element_size()), dim = pending_.k.size(2);
  c10::cuda::CUDAStreamGuard on_copy_stream(streams_->copy);
  PhaseScope scope("store: copies to host");
  for (const auto& c : pending_.copies)
    for (auto [address, rows] : {std::pair{c.k_address, &pending_.k}, std::pair{c.v_address, &pending_.v}})
      kernels::copy_rows_cuda(reinterpret_cast<void*>(address), c.pitch, rows->narrow(1, c.row, c.rows).data_ptr(),
                              rows->stride(0) * element, c.rows * dim * element, rows->size(0),
                              streams_->copy.stream(), to_host_sms());
#endif
  pending_ = Pending{};
}

std::vector<std::int64_t> BlockStore::eviction_order() const {
  ready();
  auto block = policy_->slot_block.cpu(), score = policy_->slot_score.cpu(), entered = policy_->slot_entered.cpu();
  std::vector<std::int64_t> slots;
  for (std::int64_t i = 0; i < capacity_; ++i)
    if (block[i].item<std::int64_t>() >= 0) slots.push_back(i);
  auto key = [&](std::int64_t i) { return std::make_pair(score[i].item<double>(), entered[i].item<std::int64_t>()); };
  std::sort(slots.begin(), slots.end(), [&](std::int64_t a, std::int64_t b) { return key(a) < key(b); });
  std::vector<std::int64_t> ids;
  for (auto s : slots) ids.push_back(block[s].item<std::int64_t>());
  return ids;
}

MemoryCounters BlockStore::counters() const {
  ready();
  auto c = policy_->counters.cpu();
  MemoryCounters out;
  out.cache_hits = c[kernels::kHits].item<std::int64_t>();
  out.cache_misses = c[kernels::kMisses].item<std::int64_t>();
  out.blocks_staged = c[kernels::kStaged].item<std::int64_t>();
  out.misses_staged = c[kernels::kStagedUsed].item<std::int64_t>();
  // Keys and values of each block copied over: the misses not read from staged rows, and the
  // staged blocks, used or not. An arena holds kArenaBlocks blocks' keys.
  const std::int64_t block_bytes = arenas_k_.empty() ? 0 : std::int64_t(arenas_k_.front().nbytes()) / kArenaBlocks;
  out.bytes_to_device = on_device_ ? 2 * (out.cache_misses - out.misses_staged + out.blocks_staged) * block_bytes : 0;
  return out;
}

ContextBytes BlockStore::held_bytes() const {
  auto held = storage_bytes({&cache_k_, &cache_v_, &stage_k_, &stage_v_});
  for (const auto* arenas : {&arenas_k_, &arenas_v_})
    for (const auto& arena : *arenas) held = storage_bytes({&arena}, held);
  return held;
}

std::pair<at::Tensor, at::Tensor> BlockStore::retrieve(const std::vector<std::int64_t>& ids) {
  auto out = retrieve(at::tensor(ids, at::kLong).to(device_));
  ready();
  return out;
}

std::pair<at::Tensor, at::Tensor> BlockStore::retrieve(const at::Tensor& ids,
                                                      const std::pair<at::Tensor, at::Tensor>& into) {
  const std::int64_t n = ids.defined() ? ids.numel() : 0;
  if (n == 0) return {};
  const bool given = into.first.defined();
  const bool lru = strategy_ == CacheStrategy::lru;
  if (!on_device_) {
    auto host_ids = ids.contiguous();
    const auto* id = host_ids.data_ptr<std::int64_t>();
    for (std::int64_t i = 0; i < n; ++i)
      if (id[i] < 0 || id[i] >= size()) throw Error("block store: no block " + std::to_string(id[i]));
    std::vector<std::int64_t> slot(std::size_t(n), 0);
    std::vector<std::uint8_t> missed(std::size_t(n), 0);
    kernels::block_cache_retrieve(policy_->state(), id, n, lru, slot.data(), missed.data());
    // The blocks as views into their arenas, one after another per head.
    const std::int64_t block = arenas_k_.front().size(1) / kArenaBlocks;
    std::vector<at::Tensor> ks, vs;
    for (std::int64_t i = 0; i < n; ++i) {
      const auto arena = std::size_t(id[i] / kArenaBlocks);
      const std::int64_t first_token = id[i] % kArenaBlocks * block;
      ks.push_back(arenas_k_[arena].narrow(1, first_token, block));
      vs.push_back(arenas_v_[arena].narrow(1, first_token, block));
    }
    if (!given) return {at::cat(ks, 1).unsqueeze(0), at::cat(vs, 1).unsqueeze(0)};
    auto out_k = into.first.narrow(2, 0, n * block), out_v = into.second.narrow(2, 0, n * block);
    for (std::int64_t i = 0; i < n; ++i) {
      out_k.select(0, 0).narrow(1, i * block, block).copy_(ks[std::size_t(i)]);
      out_v.select(0, 0).narrow(1, i * block, block).copy_(vs[std::size_t(i)]);
    }
    return {out_k, out_v};
  }
#ifdef QREAD_WITH_CUDA
  const at::Tensor& arena = arenas_k_.front();  // [Hkv, kArenaBlocks * block, D], as all arenas
  const std::int64_t kv_heads = arena.size(0), block = arena.size(1) / kArenaBlocks, dim = arena.size(2);
  const auto element = std::int64_t(arena.element_size());
  if (!cache_k_.defined()) {
    auto options = arena.options().device(device_).pinned_memory(false);
    cache_k_ = at::empty({capacity_, kv_heads, block, dim}, options);
    cache_v_ = at::empty({capacity_, kv_heads, block, dim}, options);
  }
  // Made on the current stream before the copy stream is told to wait for it.
  auto device_ids = ids.to(device_, at::kLong).contiguous();
  // The last blocks added are read from the device: their copy to host memory is queued after
  // this retrieval, off its path.
  kernels::PendingBlocks pending;
  if (!pending_.copies.empty()) {
    pending = {pending_.first, pending_.k.size(1) / block, pending_.k.data_ptr(), pending_.v.data_ptr(),
               pending_.k.stride(0) * element};
  }
  // Blocks staged since the last retrieval, or before (a block's rows never change).
  kernels::StagedBlocks staged;
  if (stage_block_.defined())
    staged = {stage_block_.data_ptr<std::int64_t>(), stage_block_.size(0),
              static_cast<const char*>(stage_k_.data_ptr()), static_cast<const char*>(stage_v_.data_ptr())};
  at::Tensor out_k, out_v;
  if (given) {
    out_k = into.first.narrow(2, 0, n * block);
    out_v = into.second.narrow(2, 0, n * block);
    for (const auto& t : {out_k, out_v})
      if (t.device() != cache_k_.device() || t.scalar_type() != arena.scalar_type() || t.size(1) != kv_heads ||
          t.size(3) != dim || t.stride(3) != 1 || t.stride(2) != dim || t.stride(1) != out_k.stride(1))
        throw Error("block store: a retrieval's destination is not [1, Hkv, rows, D] with rows contiguous");
    streams_->uses(out_k);
    streams_->uses(out_v);
  } else {
    out_k = at::empty({1, kv_heads, n * block, dim}, cache_k_.options());
    out_v = at::empty_like(out_k);
  }
  after_current_stream();
  streams_->uses(device_ids);
  {
    c10::cuda::CUDAStreamGuard on_copy_stream(streams_->copy);  // scratch from the copy stream's memory
    PhaseScope scope("store: policy and gather");  // QREAD_PROFILE=gpu: the copy stream's time for it
    auto slot = at::empty({n}, device_ids.options());
    auto missed = at::empty({n}, device_ids.options().dtype(at::kByte));
    kernels::block_cache_retrieve_cuda(policy_->state(), device_ids.data_ptr<std::int64_t>(), n, lru,
                                       slot.data_ptr<std::int64_t>(), missed.data_ptr<std::uint8_t>(),
                                       policy_->host_k.data_ptr<std::int64_t>(),
                                       policy_->host_v.data_ptr<std::int64_t>(),
                                       arena.stride(0) * element, pending, staged, cache_k_.data_ptr(),
                                       cache_v_.data_ptr(),
                                       out_k.data_ptr(), out_v.data_ptr(), kv_heads, block * dim * element,
                                       out_k.stride(1) * element, gather_sms_, streams_->copy.stream());
    cudaEventRecord(streams_->retrieved, streams_->copy.stream());
  }
  // The copy stream already waits for the current stream's work (above). The current stream waits
  // only for the retrieval (retrieval_ready): these copies run beside its next work (on the H100,
  // 2 MB an execution block, about 40 us that the model's stream used to wait for).
  flush_pending();
  return {out_k, out_v};
#else
  throw Error("block store: a CUDA device without a CUDA build");
#endif
}

void BlockStore::stage(std::int64_t most, const std::function<at::Tensor()>& choose,
                       const std::vector<at::Tensor>& reads) {
  if (!on_device_ || stage_sms_ < 0 || arenas_k_.empty() || most <= 0) return;
#ifdef QREAD_WITH_CUDA
  PhaseScope scope("store: stage");
  const at::Tensor& arena = arenas_k_.front();  // [Hkv, kArenaBlocks * block, D], as all arenas
  const std::int64_t kv_heads = arena.size(0), block = arena.size(1) / kArenaBlocks, dim = arena.size(2);
  const auto element = std::int64_t(arena.element_size());
  if (!stage_block_.defined() || stage_block_.size(0) < most) {
    // Made on the current stream before the copy stream is told to wait for it (its memory then
    // goes back to the current stream when dropped, for the next layer's rows).
    stage_block_ = at::full({most}, -1, at::TensorOptions().dtype(at::kLong).device(device_));
    auto options = arena.options().device(device_).pinned_memory(false);
    stage_k_ = at::empty({most, kv_heads, block, dim}, options);
    stage_v_ = at::empty_like(stage_k_);
    for (const auto* t : {&stage_block_, &stage_k_, &stage_v_}) streams_->uses(*t);
  }
  after_current_stream();
  // The staged blocks are read from host memory: copies there still held back go first.
  flush_pending();
  for (const auto& t : reads)
    if (t.defined()) streams_->uses(t);
  c10::cuda::CUDAStreamGuard on_copy_stream(streams_->copy);
  const auto ids = choose();
  const std::int64_t n = ids.defined() ? ids.numel() : 0;
  if (n == 0) return;
  if (n > most) throw Error("block store: " + std::to_string(n) + " blocks to stage, more than the " +
                            std::to_string(most) + " announced");
  const auto id = ids.to(at::kLong).contiguous();
  const kernels::StageArgs args{id.data_ptr<std::int64_t>(), n, policy_->block_slot.data_ptr<std::int64_t>(),
                                policy_->host_k.data_ptr<std::int64_t>(), policy_->host_v.data_ptr<std::int64_t>(),
                                arena.stride(0) * element, stage_block_.data_ptr<std::int64_t>(),
                                static_cast<char*>(stage_k_.data_ptr()), static_cast<char*>(stage_v_.data_ptr()),
                                kv_heads, block * dim * element};
  kernels::block_cache_stage_cuda(args, policy_->counters.data_ptr<std::int64_t>(), stage_sms_,
                                  streams_->copy.stream());
#else
  (void)choose;
  (void)reads;
#endif
}

void BlockStore::drop_stage() { stage_k_ = stage_v_ = stage_block_ = at::Tensor(); }

void BlockStore::add_scores(const std::vector<std::int64_t>& ids, const std::vector<double>& attention) {
  add_scores(at::tensor(ids, at::kLong).to(device_), at::tensor(attention, at::kDouble).to(device_, at::kFloat));
}

void BlockStore::add_scores(const at::Tensor& ids, const at::Tensor& attention) {
  if (strategy_ != CacheStrategy::lru_s || !ids.defined() || ids.numel() == 0) return;
  auto id = ids.to(device_, at::kLong).contiguous();
  auto received = attention.to(device_, at::kFloat).contiguous();
  if (!on_device_) {
    kernels::block_cache_add_scores(policy_->state(), id.data_ptr<std::int64_t>(), id.numel(),
                                    received.data_ptr<float>(), score_decay_);
    return;
  }
#ifdef QREAD_WITH_CUDA
  after_current_stream();
  streams_->uses(id);
  streams_->uses(received);
  kernels::block_cache_add_scores_cuda(policy_->state(), id.data_ptr<std::int64_t>(), id.numel(),
                                       received.data_ptr<float>(), score_decay_, streams_->copy.stream());
#endif
}

}  // namespace qread::memory
