// qread-bench-memory: one execution block's GPU work on the prefill's path, alone and side by
// side, at the Llama-3-8B shape and the reference's llama3 1K settings (32 query heads, 8 KV
// heads of 128, bf16; blocks of 128 tokens, topk 8, a cache of 32 blocks, 512 queries, window
// 1024). One JSON object per line, device times in microseconds:
//   gather        a retrieval of 8 random blocks out of --blocks (nearly all miss the cache),
//                 the store's copy kernel on n thread blocks that hold an SM each (n of --sms;
//                 0: a block per row, the default of the engine)
//   local         the local window's flash attention (1536 keys, window 1024)
//   local causal  the same keys and queries, end-aligned causal without the window
//   chunk local   a whole chunk's local window in one call (8192 queries), per 512 queries
//   global        the global stage's flash attention (1408 keys, end-aligned causal)
//   X + gather    X on the model's stream while a retrieval runs on the store's copy stream,
//                 as in the prefill: X's own span and the pair's
// Does the retrieval's reading of host memory slow the flash kernels that run beside it (the
// prefill trace has the local window's flash at 116 us, the global stage's at 46 us)? Needs a
// CUDA build and device; otherwise it prints one line saying so.
//   qread-bench-memory [--sms 0,4,8] [--repeats 200] [--blocks 512]
#include "common/torch_compat.hpp"
#include "memory/block_store.hpp"

#include <ATen/ATen.h>

#ifdef QREAD_WITH_CUDA
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime_api.h>
#endif

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace {

struct Options {
  std::vector<int> sms{0, 4, 8, 16};
  int repeats = 200;
  std::int64_t blocks = 512;
};

std::vector<int> parse_list(std::string_view text) {
  std::vector<int> out;
  while (!text.empty()) {
    const auto comma = text.find(',');
    const std::string item(text.substr(0, comma));
    char* end = nullptr;
    const long v = std::strtol(item.c_str(), &end, 10);
    if (item.empty() || *end || v < 0 || v > 1024) throw std::invalid_argument("--sms: bad value '" + item + "'");
    out.push_back(int(v));
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
  }
  return out;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg != "--sms" && arg != "--repeats" && arg != "--blocks")
      throw std::invalid_argument("unknown option " + arg + " (--sms LIST, --repeats N, --blocks N)");
    if (i + 1 >= argc) throw std::invalid_argument(arg + ": missing value");
    const std::string value = argv[++i];
    if (arg == "--sms") {
      o.sms = parse_list(value);
      continue;
    }
    char* end = nullptr;
    const long v = std::strtol(value.c_str(), &end, 10);
    if (value.empty() || *end || v < (arg == "--blocks" ? 64 : 1) || v > 100000)
      throw std::invalid_argument(arg + ": bad value '" + value + "' (--repeats 1..100000, --blocks 64..100000)");
    if (arg == "--repeats") o.repeats = int(v);
    else o.blocks = v;
  }
  return o;
}

#ifdef QREAD_WITH_CUDA
constexpr std::int64_t kHeads = 32, kKvHeads = 8, kDim = 128, kBlock = 128, kTopk = 8, kCache = 32;
constexpr std::int64_t kQueries = 512, kWindow = 1024, kGlobalKeys = 1408, kChunk = 8192;

cudaStream_t current() { return c10::cuda::getCurrentCUDAStream().stream(); }

// Mean device time of `spans` recorded [start, end) pairs.
struct Spans {
  std::vector<cudaEvent_t> events;
  explicit Spans(int n) : events(std::size_t(n)) {
    for (auto& e : events) cudaEventCreate(&e);
  }
  ~Spans() {
    for (auto e : events) cudaEventDestroy(e);
  }
  Spans(const Spans&) = delete;
  Spans& operator=(const Spans&) = delete;
  void record(int i) { cudaEventRecord(events[std::size_t(i)], current()); }
  double mean_us(int from, int to, int stride, int count) const {
    cudaEventSynchronize(events.back());
    double sum = 0;
    for (int r = 0; r < count; ++r) {
      float ms = 0;
      cudaEventElapsedTime(&ms, events[std::size_t(r * stride + from)], events[std::size_t(r * stride + to)]);
      sum += ms;
    }
    return 1000.0 * sum / count;
  }
};

// Model-layout tensors: [1, H, T, D] views of [1, T, H, D] rows.
at::Tensor rows(std::int64_t t, std::int64_t heads) {
  return at::randn({1, t, heads, kDim}, at::TensorOptions().dtype(at::kBFloat16).device(at::kCUDA)).transpose(1, 2);
}

void print(const std::string& name, int sms, double us, double pair_us = -1, double extra = -1,
           const char* extra_name = nullptr) {
  std::printf("{\"bench\": \"%s\"", name.c_str());
  if (sms >= 0) std::printf(", \"gather_sms\": %d", sms);
  std::printf(", \"us\": %.2f", us);
  if (pair_us >= 0) std::printf(", \"pair_us\": %.2f", pair_us);
  if (extra_name) std::printf(", \"%s\": %.3f", extra_name, extra);
  std::printf("}\n");
  std::fflush(stdout);
}

int run(const Options& o) {
  if (!at::hasCUDA()) {
    std::printf("{\"skipped\": \"no CUDA device\"}\n");
    return 0;
  }
  using qread::compat::flash_attention;
  const double scale = 1.0 / std::sqrt(double(kDim));
  at::manual_seed(1);
  const auto local_q = rows(kQueries, kHeads), local_k = rows(kQueries + kWindow, kKvHeads),
             local_v = rows(kQueries + kWindow, kKvHeads);
  const auto global_k = rows(kGlobalKeys, kKvHeads), global_v = rows(kGlobalKeys, kKvHeads);
  const auto chunk_q = rows(kChunk, kHeads), chunk_k = rows(kChunk + kWindow, kKvHeads),
             chunk_v = rows(kChunk + kWindow, kKvHeads);
  auto flash = [&](const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, std::int64_t window) {
    if (!flash_attention(q, k, v, true, window, scale, /*allow_cudnn=*/false))
      throw std::runtime_error("flash attention is not available in this build");
  };
  const std::vector<std::pair<std::string, std::function<void()>>> stages{
      {"local", [&] { flash(local_q, local_k, local_v, kWindow); }},
      {"local causal", [&] { flash(local_q, local_k, local_v, 0); }},
      {"global", [&] { flash(local_q, global_k, global_v, 0); }},
  };

  // The store: --blocks blocks in host memory, a cache of 32 on the device.
  qread::memory::BlockStore store(kCache, qread::CacheStrategy::lru, std::nullopt, at::Device(at::kCUDA, 0));
  const auto kv = rows(o.blocks * kBlock, kKvHeads).contiguous();
  store.add_blocks(kv, kv, o.blocks, 0);
  const auto into_k = at::empty({1, kKvHeads, kTopk * kBlock, kDim}, kv.options()), into_v = at::empty_like(into_k);
  std::vector<at::Tensor> ids;
  for (int r = 0; r < o.repeats + 1; ++r)
    ids.push_back(std::get<0>(at::randperm(o.blocks, at::TensorOptions().dtype(at::kLong)).narrow(0, 0, kTopk).sort())
                      .to(at::kCUDA));
  auto retrieve = [&](int r) { store.retrieve(ids[std::size_t(r)], {into_k, into_v}); };
  retrieve(o.repeats);  // queues the copies to host memory of the blocks added
  store.ready();
  cudaDeviceSynchronize();

  for (const auto& [name, stage] : stages) {
    stage();
    Spans spans(2 * o.repeats);
    for (int r = 0; r < o.repeats; ++r) {
      spans.record(2 * r);
      stage();
      spans.record(2 * r + 1);
    }
    print(name, -1, spans.mean_us(0, 1, 2, o.repeats));
  }
  {
    Spans spans(2);
    flash(chunk_q, chunk_k, chunk_v, kWindow);
    spans.record(0);
    for (int r = 0; r < 10; ++r) flash(chunk_q, chunk_k, chunk_v, kWindow);
    spans.record(1);
    print("chunk local", -1, spans.mean_us(0, 1, 2, 1) / 10 / double(kChunk / kQueries));
  }
  for (const int sms : o.sms) {
    store.set_gather_sms(sms);
    const auto before = store.counters();
    Spans spans(2 * o.repeats);
    for (int r = 0; r < o.repeats; ++r) {
      spans.record(2 * r);
      retrieve(r);
      store.ready();
      spans.record(2 * r + 1);
    }
    const double us = spans.mean_us(0, 1, 2, o.repeats);
    const auto after = store.counters();
    const double misses = double(after.cache_misses - before.cache_misses) / o.repeats;
    // Bytes read from host memory per retrieval: keys and values of each missed block.
    const double gbps = misses * 2 * kKvHeads * kBlock * kDim * 2 / (us * 1e3);
    print("gather", sms, us, -1, misses, "misses");
    print("gather rate", sms, us, -1, gbps, "host_GB_per_s");
    for (const auto& [name, stage] : stages) {
      Spans both(3 * o.repeats);
      for (int r = 0; r < o.repeats; ++r) {
        both.record(3 * r);
        retrieve(r);
        stage();
        both.record(3 * r + 1);
        store.ready();
        both.record(3 * r + 2);
      }
      print(name + " + gather", sms, both.mean_us(0, 1, 3, o.repeats), both.mean_us(0, 2, 3, o.repeats));
    }
  }
  return 0;
}
#else
int run(const Options&) {
  std::printf("{\"skipped\": \"built without CUDA (QREAD_CUDA=OFF)\"}\n");
  return 0;
}
#endif

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(parse(argc, argv));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "qread-bench-memory: %s\n", e.what());
    return 2;
  }
}
