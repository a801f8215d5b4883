// RMSNorm: the CPU reference against properties and a hand-computed case; the CUDA kernel
// (when built and a GPU is present) against the reference on random inputs.
#include "qread/kernels/rms_norm.hpp"
#include "test_support.hpp"

#include <QtTest>

#include <cmath>
#include <vector>

#ifdef QREAD_WITH_CUDA
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#endif

using qread::kernels::rms_norm_reference;

namespace {
std::vector<float> random_vector(std::size_t n, std::mt19937_64& rng, float scale = 1.f) {
  std::normal_distribution<float> normal(0.f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = normal(rng);
  return v;
}
}  // namespace

class TestRmsNorm : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void handComputed() {
    // x = [3, 4]: mean square 12.5, so each element is divided by sqrt(12.5).
    const float x[] = {3.f, 4.f}, w[] = {1.f, 2.f};
    float out[2];
    rms_norm_reference(x, w, out, 1, 2, 0.f);
    QVERIFY(std::abs(out[0] - 3.f / std::sqrt(12.5f)) < 1e-6f);
    QVERIFY(std::abs(out[1] - 8.f / std::sqrt(12.5f)) < 1e-6f);
  }

  void unitRmsAndScaleInvariance() {
    std::mt19937_64 rng(qread::test::random_seed());
    const std::int64_t rows = 17, cols = 301;
    const auto x = random_vector(rows * cols, rng, 3.f);
    const std::vector<float> ones(cols, 1.f);
    std::vector<float> out(rows * cols), out_scaled(rows * cols), x_scaled(x);
    for (auto& v : x_scaled) v *= 7.5f;
    rms_norm_reference(x.data(), ones.data(), out.data(), rows, cols, 0.f);
    rms_norm_reference(x_scaled.data(), ones.data(), out_scaled.data(), rows, cols, 0.f);
    for (std::int64_t r = 0; r < rows; ++r) {
      double sum_sq = 0;
      for (std::int64_t c = 0; c < cols; ++c) sum_sq += double(out[r * cols + c]) * out[r * cols + c];
      QVERIFY2(std::abs(sum_sq / cols - 1.0) < 1e-5, qPrintable(QString::number(sum_sq / cols)));
    }
    for (std::size_t i = 0; i < out.size(); ++i) QVERIFY(std::abs(out[i] - out_scaled[i]) < 1e-5f);
  }

  void epsilonDampsSmallRows() {
    // With eps much larger than the mean square, the output shrinks towards x / sqrt(eps).
    const float x[] = {1e-3f, -2e-3f}, w[] = {1.f, 1.f};
    float out[2];
    rms_norm_reference(x, w, out, 1, 2, 1.f);
    QVERIFY(std::abs(out[0] - 1e-3f) < 1e-8f);
    QVERIFY(std::abs(out[1] + 2e-3f) < 1e-8f);
  }

#ifdef QREAD_WITH_CUDA
  void cudaMatchesReference_data() {
    QTest::addColumn<int>("rows");
    QTest::addColumn<int>("cols");
    QTest::addColumn<bool>("bf16");
    for (bool bf16 : {false, true}) {
      QTest::addRow("1x4096 %s", bf16 ? "bf16" : "f32") << 1 << 4096 << bf16;
      QTest::addRow("37x129 %s", bf16 ? "bf16" : "f32") << 37 << 129 << bf16;
      QTest::addRow("512x5120 %s", bf16 ? "bf16" : "f32") << 512 << 5120 << bf16;
    }
  }
  void cudaMatchesReference() {
    int devices = 0;
    if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0)
      QSKIP("built with CUDA but no CUDA device is present");
    QFETCH(int, rows);
    QFETCH(int, cols);
    QFETCH(bool, bf16);
    std::mt19937_64 rng(qread::test::random_seed() + rows);
    auto x = random_vector(std::size_t(rows) * cols, rng, 2.f);
    auto w = random_vector(cols, rng);
    std::vector<float> expected(x.size()), got(x.size());
    const std::size_t elem = bf16 ? 2 : 4;
    void *dx, *dw, *dout;
    QCOMPARE(cudaMalloc(&dx, x.size() * elem), cudaSuccess);
    QCOMPARE(cudaMalloc(&dw, w.size() * elem), cudaSuccess);
    QCOMPARE(cudaMalloc(&dout, x.size() * elem), cudaSuccess);
    if (bf16) {
      // Round inputs to bf16 first so the reference sees exactly what the kernel sees.
      std::vector<__nv_bfloat16> hx(x.size()), hw(w.size()), hout(x.size());
      for (std::size_t i = 0; i < x.size(); ++i) { hx[i] = __float2bfloat16(x[i]); x[i] = __bfloat162float(hx[i]); }
      for (std::size_t i = 0; i < w.size(); ++i) { hw[i] = __float2bfloat16(w[i]); w[i] = __bfloat162float(hw[i]); }
      cudaMemcpy(dx, hx.data(), hx.size() * 2, cudaMemcpyHostToDevice);
      cudaMemcpy(dw, hw.data(), hw.size() * 2, cudaMemcpyHostToDevice);
      qread::kernels::rms_norm_cuda(dx, dw, dout, rows, cols, 1e-5f, qread::kernels::ElementType::bfloat16, nullptr);
      cudaMemcpy(hout.data(), dout, hout.size() * 2, cudaMemcpyDeviceToHost);
      for (std::size_t i = 0; i < got.size(); ++i) got[i] = __bfloat162float(hout[i]);
    } else {
      cudaMemcpy(dx, x.data(), x.size() * 4, cudaMemcpyHostToDevice);
      cudaMemcpy(dw, w.data(), w.size() * 4, cudaMemcpyHostToDevice);
      qread::kernels::rms_norm_cuda(dx, dw, dout, rows, cols, 1e-5f, qread::kernels::ElementType::float32, nullptr);
      cudaMemcpy(got.data(), dout, got.size() * 4, cudaMemcpyDeviceToHost);
    }
    QCOMPARE(cudaDeviceSynchronize(), cudaSuccess);
    cudaFree(dx);
    cudaFree(dw);
    cudaFree(dout);
    rms_norm_reference(x.data(), w.data(), expected.data(), rows, cols, 1e-5f);
    // bf16 output keeps 8 bits of mantissa: relative 2^-8 plus a little accumulation error.
    const float rel = bf16 ? 8e-3f : 1e-5f;
    float worst = 0.f;
    for (std::size_t i = 0; i < got.size(); ++i)
      worst = std::max(worst, std::abs(got[i] - expected[i]) / (std::abs(expected[i]) + 1e-3f));
    qInfo("max relative error %.3g", double(worst));
    QVERIFY2(worst <= rel, qPrintable(QString("max relative error %1 > %2").arg(worst).arg(rel)));
  }
#endif
};

QTEST_APPLESS_MAIN(TestRmsNorm)
#include "test_rms_norm.moc"
