// Fused RoPE: the reference against rotations computed independently (each pair (a, b) turned by
// its angle, in double), on strided random input; the CUDA kernel against the reference.
#include "qread/kernels/rope.hpp"
#include "test_support.hpp"

#include <QtTest>

#include <cmath>
#include <vector>

#ifdef QREAD_WITH_CUDA
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#endif

namespace {
struct Case {
  std::int64_t heads, tokens, dim, head_stride, token_stride;
  std::vector<float> x, cos, sin;
  std::vector<double> angle;  // [tokens, dim / 2]
};

// Token-major rows, `pad` elements after each token's heads.
Case make_case(std::mt19937_64& rng, std::int64_t heads, std::int64_t tokens, std::int64_t dim, std::int64_t pad = 3) {
  Case c{heads, tokens, dim, dim, heads * dim + pad, {}, {}, {}, {}};
  std::normal_distribution<float> normal;
  c.x.resize(std::size_t((tokens - 1) * c.token_stride + (heads - 1) * c.head_stride + dim));
  for (auto& v : c.x) v = normal(rng);
  const std::int64_t half = dim / 2;
  std::uniform_int_distribution<int> position(0, 100000);
  for (std::int64_t t = 0; t < tokens; ++t) {
    const int p = position(rng);
    for (std::int64_t i = 0; i < half; ++i) c.angle.push_back(p * std::pow(10000.0, -2.0 * double(i) / double(dim)));
    for (int copy = 0; copy < 2; ++copy)
      for (std::int64_t i = 0; i < half; ++i) {
        c.cos.push_back(float(std::cos(c.angle[t * half + i])));
        c.sin.push_back(float(std::sin(c.angle[t * half + i])));
      }
  }
  return c;
}
}  // namespace

class TestRope : public QObject {
  Q_OBJECT
  std::mt19937_64 rng_{qread::test::random_seed()};

 private Q_SLOTS:
  void referenceRotatesEachPair() {
    for (int trial = 0; trial < 10; ++trial) {
      const std::int64_t heads = 1 + std::int64_t(rng_() % 5), tokens = 1 + std::int64_t(rng_() % 9),
                         dim = 2 * (1 + std::int64_t(rng_() % 40));
      auto c = make_case(rng_, heads, tokens, dim);
      std::vector<float> out(std::size_t(heads * tokens * dim));
      qread::kernels::rope_reference(c.x.data(), c.head_stride, c.token_stride, c.cos.data(), c.sin.data(),
                                     out.data(), heads, tokens, dim);
      const std::int64_t half = dim / 2;
      for (std::int64_t h = 0; h < heads; ++h)
        for (std::int64_t t = 0; t < tokens; ++t)
          for (std::int64_t i = 0; i < half; ++i) {
            const float* row = c.x.data() + h * c.head_stride + t * c.token_stride;
            const double a = row[i], b = row[i + half], th = c.angle[t * half + i];
            const float* o = out.data() + (h * tokens + t) * dim;
            QVERIFY(std::abs(o[i] - (a * std::cos(th) - b * std::sin(th))) < 1e-5);
            QVERIFY(std::abs(o[i + half] - (b * std::cos(th) + a * std::sin(th))) < 1e-5);
          }
    }
  }

#ifdef QREAD_WITH_CUDA
  // Rows of odd length or at odd offsets take the kernel's one-element loads, the others its
  // paired loads; "one angle" passes a single row of angles for every token.
  void cudaMatchesReference_data() {
    QTest::addColumn<bool>("bf16");
    QTest::addColumn<int>("dim");
    QTest::addColumn<int>("pad");
    QTest::addColumn<bool>("one_angle");
    QTest::addRow("f32 odd offsets") << false << 128 << 3 << false;
    QTest::addRow("bf16 odd offsets") << true << 128 << 3 << false;
    QTest::addRow("f32 paired") << false << 128 << 0 << false;
    QTest::addRow("bf16 paired") << true << 128 << 2 << false;
    QTest::addRow("bf16 paired dim 36") << true << 36 << 0 << false;
    QTest::addRow("bf16 odd half 70") << true << 70 << 0 << false;
    QTest::addRow("bf16 one angle") << true << 128 << 0 << true;
  }
  void cudaMatchesReference() {
    int devices = 0;
    if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0)
      QSKIP("built with CUDA but no CUDA device is present");
    QFETCH(bool, bf16);
    QFETCH(int, dim);
    QFETCH(int, pad);
    QFETCH(bool, one_angle);
    auto c = make_case(rng_, 8, 37, dim, pad);
    if (bf16)
      for (auto& v : c.x) v = __bfloat162float(__float2bfloat16(v));
    if (one_angle)  // every token at token 0's angles, for the reference
      for (std::size_t i = std::size_t(dim); i < c.cos.size(); ++i) {
        c.cos[i] = c.cos[i % std::size_t(dim)];
        c.sin[i] = c.sin[i % std::size_t(dim)];
      }
    std::vector<float> expected(std::size_t(8 * 37 * dim)), got(expected.size());
    qread::kernels::rope_reference(c.x.data(), c.head_stride, c.token_stride, c.cos.data(), c.sin.data(),
                                   expected.data(), 8, 37, dim);
    const std::int64_t angle_stride = one_angle ? 0 : -1;
    const std::size_t elem = bf16 ? 2 : 4;
    void *dx, *dout;
    float *dcos, *dsin;
    cudaMalloc(&dx, c.x.size() * elem);
    cudaMalloc(&dout, got.size() * elem);
    cudaMalloc(&dcos, c.cos.size() * 4);
    cudaMalloc(&dsin, c.sin.size() * 4);
    cudaMemcpy(dcos, c.cos.data(), c.cos.size() * 4, cudaMemcpyHostToDevice);
    cudaMemcpy(dsin, c.sin.data(), c.sin.size() * 4, cudaMemcpyHostToDevice);
    if (bf16) {
      std::vector<__nv_bfloat16> hx(c.x.size()), hout(got.size());
      for (std::size_t i = 0; i < hx.size(); ++i) hx[i] = __float2bfloat16(c.x[i]);
      cudaMemcpy(dx, hx.data(), hx.size() * 2, cudaMemcpyHostToDevice);
      qread::kernels::rope_cuda(dx, c.head_stride, c.token_stride, dcos, dsin, dout, 8, 37, dim,
                                qread::kernels::ElementType::bfloat16, nullptr, angle_stride);
      cudaMemcpy(hout.data(), dout, hout.size() * 2, cudaMemcpyDeviceToHost);
      for (std::size_t i = 0; i < got.size(); ++i) got[i] = __bfloat162float(hout[i]);
    } else {
      cudaMemcpy(dx, c.x.data(), c.x.size() * 4, cudaMemcpyHostToDevice);
      qread::kernels::rope_cuda(dx, c.head_stride, c.token_stride, dcos, dsin, dout, 8, 37, dim,
                                qread::kernels::ElementType::float32, nullptr, angle_stride);
      cudaMemcpy(got.data(), dout, got.size() * 4, cudaMemcpyDeviceToHost);
    }
    QCOMPARE(cudaDeviceSynchronize(), cudaSuccess);
    cudaFree(dx);
    cudaFree(dout);
    cudaFree(dcos);
    cudaFree(dsin);
    float worst = 0;
    for (std::size_t i = 0; i < got.size(); ++i)
      worst = std::max(worst, std::abs(got[i] - expected[i]) / (std::abs(expected[i]) + 1e-2f));
    qInfo("max relative error %.3g", double(worst));
    QVERIFY(worst <= (bf16 ? 8e-3f : 1e-5f));
  }
#endif
};

QTEST_APPLESS_MAIN(TestRope)
#include "test_rope.moc"
