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

  // The fused path (flash attention with log-sum-exp) against the naive one, in bfloat16 on CUDA:
  // chunks after a cache with grouped heads, sliding windows, and the merge of two key sets.
  void flashAttentionOnCuda_data() {
    QTest::addColumn<int>("tq");
    QTest::addColumn<int>("tk");
    QTest::addColumn<int>("window");
    QTest::addRow("square") << 64 << 64 << 0;
    QTest::addRow("chunk after cache") << 96 << 300 << 0;
    QTest::addRow("window, chunk after cache") << 96 << 300 << 50;
    QTest::addRow("window wider than keys") << 40 << 70 << 500;
    QTest::addRow("window, square") << 128 << 128 << 17;
  }
  void flashAttentionOnCuda() {
#ifdef QREAD_WITH_CUDA
    if (!at::hasCUDA()) QSKIP("built with CUDA but no CUDA device is present");
    QFETCH(int, tq);
    QFETCH(int, tk);
    QFETCH(int, window);
    const int64_t Hq = 8, Hkv = 2, D = 64, group = Hq / Hkv;
    auto q = at::randn({1, Hq, tq, D}), k = at::randn({1, Hkv, tk, D}), v = at::randn({1, Hkv, tk, D});
    const double scale = 0.125;
    // Expected: per query head, its KV head, the end-aligned causal (and window) mask, in double.
    auto rows = at::arange(tq).unsqueeze(1) + (tk - tq), cols = at::arange(tk).unsqueeze(0);
    auto mask = cols <= rows;
    if (window > 0) mask = mask.logical_and(cols > rows - window);
    auto k_rep = k.repeat_interleave(group, 1), v_rep = v.repeat_interleave(group, 1);
    auto expected = naive_attention(q, k_rep, v_rep, &mask, false, scale);
    auto opts = at::TensorOptions().device(at::kCUDA).dtype(at::kBFloat16);
    auto qc = q.to(opts), kc = k.to(opts), vc = v.to(opts);
    auto flash = qread::compat::flash_attention(qc, kc, vc, true, window, scale);
    QVERIFY2(flash.has_value(), "no fused kernel for bfloat16 on CUDA");
    double err = max_abs_diff(flash->first, expected);
    qInfo("flash bf16 max |diff| %.3g", err);
    QVERIFY2(err < 3e-2, qPrintable(QString::number(err)));
    // lse against the double-precision log-sum-exp of the allowed scores.
    auto scores = at::matmul(q.to(at::kDouble), k_rep.to(at::kDouble).transpose(-2, -1)) * scale;
    auto lse = at::logsumexp(scores.masked_fill(mask.logical_not(), -INFINITY), -1);
    QVERIFY2(max_abs_diff(flash->second, lse) < 3e-2, qPrintable(QString::number(max_abs_diff(flash->second, lse))));
    // compat::attention's chunk-after-cache path (split and merged) agrees too.
    if (window == 0) {
      err = max_abs_diff(qread::compat::attention(qc, kc, vc, std::nullopt, true, scale), expected);
      QVERIFY2(err < 3e-2, qPrintable(QString::number(err)));
    }
#else
    QSKIP("CPU build: the CUDA path is checked on the device (tools/device)");
#endif
  }

  void mergeEqualsOneSoftmax() {
    // Two disjoint key sets attended separately (explicitly, with their log-sum-exps) and
    // merged: the same as one softmax over both, including queries one part does not see.
    const int64_t H = 3, tq = 6, ta = 9, tb = 5, D = 8;
    auto q = at::randn({1, H, tq, D}, at::kDouble), ka = at::randn({1, H, ta, D}, at::kDouble),
         kb = at::randn({1, H, tb, D}, at::kDouble), va = at::randn({1, H, ta, D}, at::kDouble),
         vb = at::randn({1, H, tb, D}, at::kDouble);
    auto mask_b = at::rand({tq, tb}) > 0.4;
    mask_b.select(0, 0).fill_(false);  // query 0 sees nothing of b
    auto part = [&](const at::Tensor& k, const at::Tensor& v, const at::Tensor& mask) {
      auto s = (at::matmul(q, k.transpose(-2, -1)) * 0.3).masked_fill(mask.logical_not(), -INFINITY);
      auto lse = at::logsumexp(s, -1);
      auto p = at::exp(s - at::where(at::isinf(lse), at::zeros_like(lse), lse).unsqueeze(-1));
      return std::make_pair(at::matmul(p, v), lse);
    };
    auto [oa, la] = part(ka, va, at::ones({tq, ta}, at::kBool));
    auto [ob, lb] = part(kb, vb, mask_b);
    auto merged = qread::compat::merge_attention(oa, la, ob, lb).first;
    auto all_mask = at::cat({at::ones({tq, ta}, at::kBool), mask_b}, 1);
    auto expected = naive_attention(q, at::cat({ka, kb}, 2), at::cat({va, vb}, 2), &all_mask, false, 0.3);
    QVERIFY2(max_abs_diff(merged, expected) < 1e-10, qPrintable(QString::number(max_abs_diff(merged, expected))));
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
