// compat::attention against attention computed element by element in double precision.
#include "common/torch_compat.hpp"
#include "test_support.hpp"

#include <ATen/ATen.h>
#include <QtTest>

#include <cmath>
#include <vector>

namespace {

// Naive attention: for each (b, h, i), softmax over allowed j of q.k * scale, then sum of v.
at::Tensor naive_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                           const at::Tensor* bool_mask, bool causal, double scale) {
  auto q64 = q.to(at::kDouble).contiguous(), k64 = k.to(at::kDouble).contiguous(),
       v64 = v.to(at::kDouble).contiguous();
  const int64_t B = q.size(0), H = q.size(1), Tq = q.size(2), Tk = k.size(2), D = q.size(3);
  auto out = at::zeros({B, H, Tq, D}, at::kDouble);
  auto qa = q64.accessor<double, 4>(), ka = k64.accessor<double, 4>(), va = v64.accessor<double, 4>();
  auto oa = out.accessor<double, 4>();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < Tq; ++i) {
        std::vector<double> s(Tk, -INFINITY);
        double top = -INFINITY;
        for (int64_t j = 0; j < Tk; ++j) {
          if (causal && j > i + (Tk - Tq)) continue;
          if (bool_mask && !(*bool_mask)[i][j].item<bool>()) continue;
          double dot = 0;
          for (int64_t d = 0; d < D; ++d) dot += qa[b][h][i][d] * ka[b][h][j][d];
          s[j] = dot * scale;
          top = std::max(top, s[j]);
        }
        double total = 0;
        for (auto& x : s) total += (x = std::isinf(x) ? 0.0 : std::exp(x - top));
        for (int64_t j = 0; j < Tk; ++j)
          for (int64_t d = 0; d < D; ++d) oa[b][h][i][d] += s[j] / total * va[b][h][j][d];
      }
  return out;
}

double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble).cpu() - b.to(at::kDouble).cpu()).abs().max().item<double>();
}

}  // namespace

class TestTorchCompat : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void initTestCase() { at::manual_seed(qread::test::random_seed()); }

  void attentionMatchesNaive_data() {
    QTest::addColumn<int>("tq");
    QTest::addColumn<int>("tk");
    QTest::addColumn<bool>("causal");
    QTest::addColumn<bool>("masked");
    QTest::addRow("square causal") << 13 << 13 << true << false;
    QTest::addRow("chunk after cache causal") << 5 << 21 << true << false;
    QTest::addRow("single query causal") << 1 << 17 << true << false;
    QTest::addRow("bool mask") << 7 << 11 << false << true;
    QTest::addRow("bool mask and causal") << 6 << 9 << true << true;
    QTest::addRow("no mask") << 4 << 8 << false << false;
  }

  void attentionMatchesNaive() {
    QFETCH(int, tq);
    QFETCH(int, tk);
    QFETCH(bool, causal);
    QFETCH(bool, masked);
    const int64_t B = 2, H = 3, D = 16;
    auto q = at::randn({B, H, tq, D}), k = at::randn({B, H, tk, D}), v = at::randn({B, H, tk, D});
    at::Tensor mask;
    std::optional<at::Tensor> opt_mask;
    if (masked) {
      mask = at::rand({tq, tk}) > 0.3;
      mask.select(1, 0).fill_(true);  // every query sees at least key 0
      opt_mask = mask;
    }
    const double scale = 1.0 / std::sqrt(double(D));
    auto got = qread::compat::attention(q, k, v, opt_mask, causal, scale);
    auto expected = naive_attention(q, k, v, masked ? &mask : nullptr, causal, scale);
    QCOMPARE(got.sizes().vec(), expected.sizes().vec());
    const double err = max_abs_diff(got, expected);
    QVERIFY2(err < 1e-5, qPrintable(QString("max |diff| %1").arg(err)));

    // An additive mask of 0 / -inf must agree with the boolean form.
    if (masked) {
      auto additive = at::zeros({tq, tk}).masked_fill(mask.logical_not(), -INFINITY);
      auto got_additive = qread::compat::attention(q, k, v, additive, causal, scale);
      QVERIFY(max_abs_diff(got_additive, expected) < 1e-5);
    }
  }

  void longSequencesGoInQueryBlocks() {
    // Long enough that the score matrix is split into query blocks; the expectation is one
    // unblocked softmax in double.
    const int64_t t = 3000, h = 4, d = 16;
    auto q = at::randn({1, h, t, d}), k = at::randn({1, h, t, d}), v = at::randn({1, h, t, d});
    const double scale = 0.25;
    auto got = qread::compat::attention(q, k, v, std::nullopt, true, scale);
    auto scores = at::matmul(q.to(at::kDouble), k.to(at::kDouble).transpose(-2, -1)) * scale;
    scores.masked_fill_(at::ones({t, t}, at::kBool).triu(1), -INFINITY);
    auto expected = at::matmul(at::softmax(scores, -1), v.to(at::kDouble));
    const double err = max_abs_diff(got, expected);
    QVERIFY2(err < 1e-5, qPrintable(QString::number(err)));
  }

  void attentionOnCudaMatchesCpu() {
#ifdef QREAD_WITH_CUDA
    if (!at::hasCUDA()) QSKIP("built with CUDA but no CUDA device is present");
    auto q = at::randn({1, 4, 9, 64}), k = at::randn({1, 4, 40, 64}), v = at::randn({1, 4, 40, 64});
    const double scale = 0.125;
    auto expected = naive_attention(q, k, v, nullptr, true, scale);
    auto opts = at::TensorOptions().device(at::kCUDA).dtype(at::kBFloat16);
    auto got = qread::compat::attention(q.to(opts), k.to(opts), v.to(opts), std::nullopt, true, scale);
    const double err = max_abs_diff(got, expected);
    qInfo("bf16 CUDA attention max |diff| %.3g", err);
    QVERIFY2(err < 3e-2, qPrintable(QString::number(err)));
#else
    QSKIP("CPU build: the CUDA path is checked on the device (tools/device)");
#endif
  }
};

QTEST_APPLESS_MAIN(TestTorchCompat)
#include "test_torch_compat.moc"
