// Does page-locking host memory on one thread slow down the CUDA calls of another? The block
// store page-locks its next host arena on a helper thread while the main thread queues the
// copies of blocks to host memory and the attention kernels. Measures, per call, the host time
// of a strided device-to-host copy (one execution block's keys: 8 rows of 128 KB), of a kernel
// launch, and of a kernel that writes the same bytes to mapped host memory, with and without a
// thread that page-locks 16 MB at a time; and the GPU time of both ways of copying.
//   nvcc -O2 -o /tmp/pin-contention tools/device/pin-contention.cu && /tmp/pin-contention
#include <cuda_runtime.h>
#include <sys/mman.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

namespace {
constexpr int kRows = 8;
constexpr size_t kWidth = 128 << 10, kSrcPitch = 512 << 10, kDstPitch = 4 << 20;

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    std::fprintf(stderr, "%s: %s\n", what, cudaGetErrorString(e));
    std::exit(1);
  }
}

__global__ void tiny(float* x) { x[threadIdx.x] += 1.0f; }

// 16-byte stores to mapped host memory; blockIdx.x is the row, blockIdx.y a part of it.
__global__ void write_rows(const char* src, size_t src_pitch, char* dst, size_t dst_pitch, size_t width) {
  const auto* s = reinterpret_cast<const int4*>(src + blockIdx.x * src_pitch);
  auto* d = reinterpret_cast<int4*>(dst + blockIdx.x * dst_pitch);
  for (size_t i = blockIdx.y * blockDim.x + threadIdx.x; i < width / 16; i += size_t(gridDim.y) * blockDim.x) d[i] = s[i];
}

double now_us() {
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

void pin_loop(std::atomic<bool>& stop, std::atomic<int>& pinned) {
  const size_t bytes = 16 << 20;
  while (!stop) {
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    madvise(p, bytes, MADV_HUGEPAGE);
    std::memset(p, 0, bytes);
    check(cudaHostRegister(p, bytes, cudaHostRegisterPortable | cudaHostRegisterMapped), "register");
    ++pinned;
    // Kept (as the store keeps its arenas); freed at exit.
  }
}
}  // namespace

int main() {
  char *src, *dst, *dst_dev;
  float* scratch;
  check(cudaMalloc(&src, kRows * kSrcPitch), "malloc");
  check(cudaMalloc(&scratch, 1024 * sizeof(float)), "malloc");
  check(cudaHostAlloc(&dst, kRows * kDstPitch, cudaHostAllocMapped), "host alloc");
  check(cudaHostGetDevicePointer(reinterpret_cast<void**>(&dst_dev), dst, 0), "device pointer");
  cudaStream_t stream;
  check(cudaStreamCreate(&stream), "stream");
  cudaEvent_t a, b;
  cudaEventCreate(&a);
  cudaEventCreate(&b);

  for (int contended = 0; contended < 2; ++contended) {
    std::atomic<bool> stop{false};
    std::atomic<int> pinned{0};
    std::thread pinner;
    if (contended) pinner = std::thread(pin_loop, std::ref(stop), std::ref(pinned));
    const int n = 2000;
    double copy = 0, launch = 0, kernel_write = 0, worst_copy = 0;
    for (int i = 0; i < n; ++i) {
      double t = now_us();
      check(cudaMemcpy2DAsync(dst, kDstPitch, src, kSrcPitch, kWidth, kRows, cudaMemcpyDefault, stream), "copy");
      double c = now_us() - t;
      copy += c;
      if (c > worst_copy) worst_copy = c;
      t = now_us();
      tiny<<<1, 32, 0, stream>>>(scratch);
      launch += now_us() - t;
      t = now_us();
      write_rows<<<dim3(kRows, 16), 256, 0, stream>>>(src, kSrcPitch, dst_dev, kDstPitch, kWidth);
      kernel_write += now_us() - t;
      if (i % 64 == 63) cudaStreamSynchronize(stream);  // keep the queue short, as the engine's is not
    }
    cudaStreamSynchronize(stream);
    stop = true;
    if (pinner.joinable()) pinner.join();
    std::printf("%s: host us/call: memcpy2D %.1f (worst %.0f), tiny launch %.1f, write kernel launch %.1f; "
                "%d x 16 MB page-locked meanwhile\n",
                contended ? "with a page-locking thread" : "alone", copy / n, worst_copy, launch / n,
                kernel_write / n, pinned.load());
  }
  // GPU time of each way of moving one execution block's keys (1 MB).
  for (int way = 0; way < 2; ++way) {
    cudaEventRecord(a, stream);
    for (int i = 0; i < 200; ++i) {
      if (way == 0)
        cudaMemcpy2DAsync(dst, kDstPitch, src, kSrcPitch, kWidth, kRows, cudaMemcpyDefault, stream);
      else
        write_rows<<<dim3(kRows, 16), 256, 0, stream>>>(src, kSrcPitch, dst_dev, kDstPitch, kWidth);
    }
    cudaEventRecord(b, stream);
    cudaEventSynchronize(b);
    float ms = 0;
    cudaEventElapsedTime(&ms, a, b);
    std::printf("GPU time per 1 MB, %s: %.1f us (%.1f GB/s)\n", way == 0 ? "memcpy2D" : "write kernel",
                ms * 1000 / 200, 1.0 * kRows * kWidth / (ms * 1e-3 / 200) / 1e9);
  }
  return 0;
}
