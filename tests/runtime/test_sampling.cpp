// Sampling: greedy is argmax; top-k 1 is greedy; draws follow softmax(logits / T) restricted to
// the top-k and top-p nucleus.
#include "model/sampling.hpp"
#include "test_support.hpp"

#include <QtTest>

#include <cmath>
#include <map>

using qread::model::Sampler;

class TestSampling : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void greedyIsArgmax() {
    std::mt19937_64 rng(qread::test::random_seed());
    std::normal_distribution<float> normal;
    for (int trial = 0; trial < 50; ++trial) {
      std::vector<float> logits(257);
      for (auto& v : logits) v = normal(rng);
      const auto best = std::max_element(logits.begin(), logits.end()) - logits.begin();
      QCOMPARE(Sampler({}).next(logits), best);
      qread::SamplingOptions top1;
      top1.temperature = 1.5;
      top1.top_k = 1;
      top1.seed = trial;
      QCOMPARE(Sampler(top1).next(logits), best);
    }
    const std::vector<float> ties{1.f, 3.f, 3.f};
    QCOMPARE(qread::model::argmax(ties), 1);
  }

  void drawsFollowSoftmax() {
    const std::vector<float> logits{2.0f, 1.0f, 0.0f, -1.0f};
    qread::SamplingOptions o;
    o.temperature = 0.7;
    o.seed = qread::test::random_seed();
    Sampler sampler(o);
    std::map<int, int> counts;
    const int n = 40000;
    for (int i = 0; i < n; ++i) ++counts[sampler.next(logits)];
    double total = 0;
    std::vector<double> p;
    for (float l : logits) total += std::exp(l / 0.7);
    for (float l : logits) p.push_back(std::exp(l / 0.7) / total);
    for (int i = 0; i < 4; ++i) {
      const double freq = double(counts[i]) / n, sigma = std::sqrt(p[i] * (1 - p[i]) / n);
      QVERIFY2(std::abs(freq - p[i]) < 5 * sigma + 1e-4,
               qPrintable(QString("token %1: %2 vs %3").arg(i).arg(freq).arg(p[i])));
    }
  }

  void nucleusAndTopKRestrict() {
    // Probabilities at T=1: about 0.64, 0.24, 0.09, 0.03. top_p 0.8 keeps the first two.
    const std::vector<float> logits{2.0f, 1.0f, 0.0f, -1.0f};
    qread::SamplingOptions o;
    o.temperature = 1.0;
    o.top_p = 0.8;
    o.seed = qread::test::random_seed();
    Sampler nucleus(o);
    std::map<int, int> seen;
    for (int i = 0; i < 5000; ++i) ++seen[nucleus.next(logits)];
    QCOMPARE(int(seen.size()), 2);
    QVERIFY(seen.count(0) && seen.count(1));
    o.top_p = 1.0;
    o.top_k = 3;
    Sampler topk(o);
    seen.clear();
    for (int i = 0; i < 5000; ++i) ++seen[topk.next(logits)];
    QVERIFY(!seen.count(3));
    QCOMPARE(int(seen.size()), 3);
  }

  void sameSeedSameDraws() {
    std::vector<float> logits(100);
    for (int i = 0; i < 100; ++i) logits[i] = float(i % 7) * 0.3f;
    qread::SamplingOptions o;
    o.temperature = 1.0;
    o.seed = 42;
    Sampler a(o), b(o);
    for (int i = 0; i < 100; ++i) QCOMPARE(a.next(logits), b.next(logits));
  }
};

QTEST_APPLESS_MAIN(TestSampling)
#include "test_sampling.moc"
