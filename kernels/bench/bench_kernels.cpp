// Kernel timings, one JSON object per line: the RMSNorm CPU reference always; with QREAD_CUDA and
// a GPU, at the Llama-3-8B shape: the RMSNorm kernel, RoPE, block selection (select_blocks_cuda), the
// copy kernel between page-locked host memory and the device (copy_rows_cuda), the window sums of
// an execution block (from its logits, and from its queries and keys) and the MLP's SiLU(gate) * up.
#include "qread/kernels/activation.hpp"
#include "qread/kernels/attention_merge.hpp"
#include "qread/kernels/block_cache.hpp"
#include "qread/kernels/rms_norm.hpp"
#include "qread/kernels/rope.hpp"

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <random>
#include <vector>

#ifdef QREAD_WITH_CUDA
#include <cuda_runtime.h>
#endif

namespace {

double bench_cpu(std::int64_t rows, std::int64_t cols) {
  std::vector<float> x(rows * cols), w(cols), out(rows * cols);
  std::mt19937 rng(1);
  std::normal_distribution<float> normal;
  for (auto& v : x) v = normal(rng);
  for (auto& v : w) v = normal(rng);
  const int iters = 20;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < iters; ++i)
    qread::kernels::rms_norm_reference(x.data(), w.data(), out.data(), rows, cols, 1e-5f);
  const std::chrono::duration<double, std::micro> elapsed = std::chrono::steady_clock::now() - start;
  return elapsed.count() / iters;
}

#ifdef QREAD_WITH_CUDA
// Device time per call of `launch`, averaged over `iters` calls after one warm-up call.
template <typename Launch> double time_cuda(int iters, Launch&& launch) {
  cudaEvent_t begin, end;
  cudaEventCreate(&begin);
  cudaEventCreate(&end);
  launch();
  cudaEventRecord(begin);
  for (int i = 0; i < iters; ++i) launch();
  cudaEventRecord(end);
  cudaEventSynchronize(end);
  float ms = 0.f;
  cudaEventElapsedTime(&ms, begin, end);
  cudaEventDestroy(begin);
  cudaEventDestroy(end);
  return 1000.0 * ms / iters;
}

double bench_cuda(std::int64_t rows, std::int64_t cols) {
  void *x, *w, *out;
  cudaMalloc(&x, rows * cols * 2);
  cudaMalloc(&w, cols * 2);
  cudaMalloc(&out, rows * cols * 2);
  cudaMemset(x, 0, rows * cols * 2);
  cudaMemset(w, 0, cols * 2);
  const double us = time_cuda(200, [&] {
    qread::kernels::rms_norm_cuda(x, w, out, rows, cols, 1e-5f, qread::kernels::ElementType::bfloat16, nullptr);
  });
  cudaFree(x);
  cudaFree(w);
  cudaFree(out);
  return us;
}

// Block selection over n blocks of 32 heads x 128 (bf16 representatives, random), top k, with
// a question vector: the scores kernel and the top-k kernel together.
double bench_select(std::int64_t n, std::int64_t k) {
  const std::int64_t heads = 32, dim = 128, width = heads * dim;
  std::mt19937 rng(2);
  std::uniform_int_distribution<int> bits(0x3c00, 0x3f80);  // bf16 patterns of 0.0078 .. 1
  std::vector<std::uint16_t> repr(static_cast<std::size_t>(n * width)), question(static_cast<std::size_t>(width));
  std::vector<float> query(static_cast<std::size_t>(width));
  for (auto& v : repr) v = std::uint16_t(bits(rng));
  for (auto& v : question) v = std::uint16_t(bits(rng));
  std::normal_distribution<float> normal;
  for (auto& v : query) v = normal(rng);
  void *d_repr, *d_question, *d_query, *d_scratch, *d_ids;
  cudaMalloc(&d_repr, repr.size() * 2);
  cudaMalloc(&d_question, question.size() * 2);
  cudaMalloc(&d_query, query.size() * 4);
  cudaMalloc(&d_scratch, std::size_t(n) * 4);
  cudaMalloc(&d_ids, std::size_t(k) * 8);
  cudaMemcpy(d_repr, repr.data(), repr.size() * 2, cudaMemcpyHostToDevice);
  cudaMemcpy(d_question, question.data(), question.size() * 2, cudaMemcpyHostToDevice);
  cudaMemcpy(d_query, query.data(), query.size() * 4, cudaMemcpyHostToDevice);
  const double us = time_cuda(200, [&] {
    qread::kernels::select_blocks_cuda(d_repr, n, heads, dim, static_cast<const float*>(d_query), dim, d_question,
                                       0.5f, k, static_cast<float*>(d_scratch), static_cast<std::int64_t*>(d_ids),
                                       qread::kernels::ElementType::bfloat16, nullptr);
  });
  for (void* p : {d_repr, d_question, d_query, d_scratch, d_ids}) cudaFree(p);
  return us;
}

// RoPE on `heads` x `tokens` rows of 128 bf16 (an execution block's queries, a chunk's): us per call.
double bench_rope(std::int64_t heads, std::int64_t tokens) {
  const std::int64_t dim = 128, elements = heads * tokens * dim;
  void *x, *out;
  float* angles;
  cudaMalloc(&x, std::size_t(elements) * 2);
  cudaMalloc(&out, std::size_t(elements) * 2);
  cudaMalloc(&angles, std::size_t(tokens * dim) * 4);
  cudaMemset(x, 0, std::size_t(elements) * 2);
  cudaMemset(angles, 0, std::size_t(tokens * dim) * 4);
  const double us = time_cuda(200, [&] {
    qread::kernels::rope_cuda(x, tokens * dim, dim, angles, angles, out, heads, tokens, dim,
                              qread::kernels::ElementType::bfloat16, nullptr);
  });
  for (void* p : {x, out, static_cast<void*>(angles)}) cudaFree(p);
  return us;
}

// copy_rows_cuda over `rows` rows of `width` bytes between page-locked host memory (through its
// device address) and device memory, to the device or from it: microseconds per call.
double bench_copy(std::int64_t rows, std::int64_t width, bool to_device, int sms) {
  const std::int64_t bytes = rows * width;
  void* host = qread::kernels::allocate_pinned(bytes);
  void* device = nullptr;
  if (!host || cudaMalloc(&device, std::size_t(bytes)) != cudaSuccess) return -1;
  auto* host_address = reinterpret_cast<void*>(qread::kernels::device_address_of_host_memory(host));
  const double us = time_cuda(50, [&] {
    if (to_device)
      qread::kernels::copy_rows_cuda(device, width, host_address, width, width, rows, nullptr, sms);
    else
      qread::kernels::copy_rows_cuda(host_address, width, device, width, width, rows, nullptr, sms);
  });
  cudaFree(device);
  qread::kernels::free_pinned(host, bytes);
  return us;
}

// The window sums of one execution block of the Llama-3-8B shape (32 query heads, 8 KV heads,
// 512 queries, a window of 1024, 1536 keys, bf16): from its logits (window_attention_received_cuda;
// the matmul that writes them is not counted) or from the queries and keys
// (window_attention_received_qk_cuda). Microseconds per call.
double bench_window_sums(bool from_qk) {
  const std::int64_t heads = 32, kv_heads = 8, queries = 512, keys = 1536, window = 1024, dim = 128;
  const std::size_t logits_bytes = std::size_t(heads * queries * keys) * 2;
  void *q, *k, *logits;
  float *lse, *score;
  cudaMalloc(&q, std::size_t(heads * queries * dim) * 2);
  cudaMalloc(&k, std::size_t(kv_heads * keys * dim) * 2);
  cudaMalloc(&logits, from_qk ? 2 : logits_bytes);
  cudaMalloc(&lse, std::size_t(heads * queries) * 4);
  cudaMalloc(&score, std::size_t(heads * keys) * 4);
  cudaMemset(q, 0, std::size_t(heads * queries * dim) * 2);
  cudaMemset(k, 0, std::size_t(kv_heads * keys * dim) * 2);
  if (!from_qk) cudaMemset(logits, 0, logits_bytes);
  cudaMemset(lse, 0, std::size_t(heads * queries) * 4);
  const auto type = qread::kernels::ElementType::bfloat16;
  const double us = time_cuda(200, [&] {
    if (from_qk)
      qread::kernels::window_attention_received_qk_cuda(q, queries * dim, dim, k, keys * dim, dim, lse, score, heads,
                                                        kv_heads, queries, keys, dim, keys - queries, window,
                                                        0.088f, type, nullptr);
    else
      qread::kernels::window_attention_received_cuda(logits, lse, score, heads, queries, keys, keys - queries,
                                                     window, 0.088f, type, nullptr);
  });
  for (void* p : {q, k, logits, static_cast<void*>(lse), static_cast<void*>(score)}) cudaFree(p);
  return us;
}

// SiLU(gate) * up over a chunk of 8192 tokens of the Llama-3-8B MLP (the halves of [8192, 2 x 14336]
// bf16 rows): microseconds per call.
double bench_silu_mul() {
  const std::int64_t rows = 8192, inner = 14336;
  const std::size_t bytes = std::size_t(rows * 2 * inner) * 2;
  void* gate_up;
  cudaMalloc(&gate_up, bytes);
  cudaMemset(gate_up, 0, bytes);
  auto* base = static_cast<std::uint16_t*>(gate_up);
  const double us = time_cuda(50, [&] {
    qread::kernels::silu_mul_cuda(base, base + inner, rows, inner, 2 * inner, qread::kernels::ElementType::bfloat16,
                                  nullptr);
  });
  cudaFree(gate_up);
  return us;
}
#endif

}  // namespace

int main() {
  const std::int64_t cols = 4096;  // Llama-3-8B hidden size
  for (std::int64_t rows : {1, 512, 8192}) {
    if (rows <= 512)
      std::printf("{\"kernel\":\"rms_norm_reference\",\"rows\":%lld,\"cols\":%lld,\"us\":%.2f}\n",
                  static_cast<long long>(rows), static_cast<long long>(cols), bench_cpu(rows, cols));
#ifdef QREAD_WITH_CUDA
    int devices = 0;
    if (cudaGetDeviceCount(&devices) == cudaSuccess && devices > 0) {
      const double us = bench_cuda(rows, cols);
      std::printf("{\"kernel\":\"rms_norm_cuda_bf16\",\"rows\":%lld,\"cols\":%lld,\"us\":%.2f,\"GBps\":%.1f}\n",
                  static_cast<long long>(rows), static_cast<long long>(cols), us,
                  2.0 * rows * cols * 2 / (us * 1e3));
    }
#endif
  }
#ifdef QREAD_WITH_CUDA
  int devices = 0;
  if (cudaGetDeviceCount(&devices) == cudaSuccess && devices > 0)
    for (std::int64_t n : {256, 800, 8000})  // 32K, 100K, 1M tokens in blocks of 128
      std::printf("{\"kernel\":\"select_blocks_cuda_bf16\",\"blocks\":%lld,\"k\":8,\"us\":%.2f}\n",
                  static_cast<long long>(n), bench_select(n, 8));
  if (devices > 0)
    for (std::int64_t tokens : {512, 8192}) {
      const double us = bench_rope(32, tokens);
      std::printf("{\"kernel\":\"rope_cuda_bf16\",\"heads\":32,\"tokens\":%lld,\"us\":%.2f,\"GBps\":%.1f}\n",
                  static_cast<long long>(tokens), us, 2.0 * 32 * tokens * 128 * 2 / (us * 1e3));
    }
  if (devices > 0) {
    // A retrieval's worth (8 blocks of 8 heads x 128 tokens x 128, bf16, keys and values: 128 rows
    // of 32 KB) and a decode step's 32 of them at once.
    // sms > 0: that many thread blocks, each holding an SM (QREAD_GATHER_SMS).
    for (int sms : {0, 4})
      for (std::int64_t rows : {128, 4096})
        for (bool to_device : {true, false}) {
          const std::int64_t width = 32768;
          const double us = bench_copy(rows, width, to_device, sms);
          std::printf("{\"kernel\":\"copy_rows_cuda\",\"sms\":%d,\"direction\":\"%s\",\"bytes\":%lld,\"us\":%.2f,"
                      "\"GBps\":%.1f}\n",
                      sms, to_device ? "host to device" : "device to host", static_cast<long long>(rows * width), us,
                      double(rows * width) / (us * 1e3));
        }
  }
  if (devices > 0)
    for (bool from_qk : {false, true})
      std::printf("{\"kernel\":\"window_sums_from_%s\",\"heads\":32,\"queries\":512,\"keys\":1536,\"us\":%.2f}\n",
                  from_qk ? "qk" : "logits", bench_window_sums(from_qk));
  if (devices > 0) {
    const double us = bench_silu_mul();
    // Read both halves, write the gate's: 3 x 8192 x 14336 x 2 bytes.
    std::printf("{\"kernel\":\"silu_mul_cuda_bf16\",\"rows\":8192,\"cols\":14336,\"us\":%.2f,\"GBps\":%.1f}\n", us,
                3.0 * 8192 * 14336 * 2 / (us * 1e3));
  }
#endif
  return 0;
}
