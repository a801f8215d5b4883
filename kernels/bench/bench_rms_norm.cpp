// Throughput of the RMSNorm kernels: the CPU reference always, the CUDA kernel when built
// with QREAD_CUDA and a GPU is present. Prints one JSON object per line.
#include "qread/kernels/rms_norm.hpp"

#include <chrono>
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
double bench_cuda(std::int64_t rows, std::int64_t cols) {
  void *x, *w, *out;
  cudaMalloc(&x, rows * cols * 2);
  cudaMalloc(&w, cols * 2);
  cudaMalloc(&out, rows * cols * 2);
  cudaMemset(x, 0, rows * cols * 2);
  cudaMemset(w, 0, cols * 2);
  cudaEvent_t begin, end;
  cudaEventCreate(&begin);
  cudaEventCreate(&end);
  const int iters = 200;
  qread::kernels::rms_norm_cuda(x, w, out, rows, cols, 1e-5f, qread::kernels::ElementType::bfloat16, nullptr);
  cudaEventRecord(begin);
  for (int i = 0; i < iters; ++i)
    qread::kernels::rms_norm_cuda(x, w, out, rows, cols, 1e-5f, qread::kernels::ElementType::bfloat16, nullptr);
  cudaEventRecord(end);
  cudaEventSynchronize(end);
  float ms = 0.f;
  cudaEventElapsedTime(&ms, begin, end);
  cudaFree(x);
  cudaFree(w);
  cudaFree(out);
  return 1000.0 * ms / iters;
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
  return 0;
}
