// Properties of the context-memory modes on random inputs:
//  - each windowed mode equals full attention while the window covers the whole sequence;
//  - the multi-stage merge equals one softmax over the concatenated stages;
//  - Q-LLM retrieves a block aligned with the question that InfLLM misses when the chunk's
//    queries point elsewhere;
//  - LRU and LRU-S evict in the documented order, the cache policy agrees with a plain model of
//    it on random retrievals, and the CUDA store (policy and copies on the GPU) with the CPU one.
#include "common/torch_compat.hpp"
#include "memory/block_memory.hpp"
#include "memory/block_store.hpp"
#include "memory/dense_memory.hpp"
#include "memory/memory_factory.hpp"
#include "memory/multi_stage_attention.hpp"
#include "memory/quest_memory.hpp"
#include "model/fused_ops.hpp"
#include "model/rope.hpp"
#include "test_support.hpp"

#include <ATen/ATen.h>
#include <QtTest>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <optional>
#include <stdexcept>

using namespace qread;
using qread::memory::BlockStore;

namespace {

model::ModelConfig tiny_config(std::int64_t heads, std::int64_t kv_heads, std::int64_t dim) {
  model::ModelConfig c;
  c.num_heads = heads;
  c.num_kv_heads = kv_heads;
  c.head_dim = dim;
  c.hidden_size = heads * dim;
  c.rope_theta = 10000.0;
  c.max_position_embeddings = 1 << 20;
  return c;
}

// Feeds [1, H, T, D] tensors through a memory in chunks of the given sizes; returns the outputs.
at::Tensor run_chunks(memory::ContextMemory& m, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                      const std::vector<std::int64_t>& chunks) {
  std::vector<at::Tensor> outs;
  std::int64_t at = 0;
  for (auto n : chunks) {
    outs.push_back(m.attend(q.narrow(2, at, n), k.narrow(2, at, n), v.narrow(2, at, n)));
    at += n;
  }
  return at::cat(outs, 2);
}

double max_abs(const at::Tensor& a, const at::Tensor& b) { return (a - b).abs().max().item<double>(); }

// Where planted representatives put them: two keys of every block of 32 tokens after 16 init
// tokens (the block memory tests' layout).
struct Planted {
  std::int64_t n_init = 16, block = 32;
};

// The outputs ([1, 8, T, 64], float) of the fused path (the first memory, fused kernels on) and of
// the explicit one (the second, fused kernels off) on the same random inputs (8 query heads, 2 KV
// heads, head size 64; bf16 on CUDA unless told otherwise), fed in the given chunks.
// With `planted`, every query and two keys of every block share a direction (4 along the last
// dimension, which RoPE turns by 1.3e-4 radians a token): those keys get 2 more logit from every
// query, so they receive about 7 times the attention of the others and are their block's
// representative keys whichever order the sums were added in.
std::pair<at::Tensor, at::Tensor> fused_and_explicit(memory::ContextMemory& fused, memory::ContextMemory& explicit_path,
                                                     const std::vector<std::int64_t>& chunks,
                                                     at::Device device = at::kCUDA,
                                                     at::ScalarType dtype = at::kBFloat16,
                                                     std::optional<Planted> planted = std::nullopt) {
  std::int64_t total = 0;
  for (auto n : chunks) total += n;
  auto opts = at::TensorOptions().device(device).dtype(dtype);
  auto q = at::randn({1, 8, total, 64}, opts), k = at::randn({1, 2, total, 64}, opts),
       v = at::randn({1, 2, total, 64}, opts);
  if (planted) {
    q.select(3, 63).add_(4.0);
    for (std::int64_t p = planted->n_init; p < total; ++p)
      if (const auto in_block = (p - planted->n_init) % planted->block; in_block == 5 || in_block == 20)
        k.select(2, p).select(2, 63).add_(4.0);
  }
  const auto got = run_chunks(fused, q, k, v, chunks);
  compat::set_fused_attention(false);
  const auto expected = run_chunks(explicit_path, q, k, v, chunks);
  compat::set_fused_attention(true);
  return {got.to(at::kFloat), expected.to(at::kFloat)};
}

// Q-LLM or InfLLM (8 query heads, 2 KV heads, head size 64) by the fused path and by the explicit
// multi-stage softmax, over chunks that fill many blocks. Representative keys come from scores
// that the two paths sum in different orders: a near tie may pick another key, then another
// block, and from there the later choices. An execution block's output depends only on its
// queries, the keys and the blocks it retrieved, so outputs are compared where both retrieved
// the same blocks. On plain random inputs that happened early for one seed in five in bf16 (H100,
// seeds 1-5: 34, 34, 34, 34 and 14 of 34 retrievals identical for Q-LLM, the same with the window
// sums kernel before and after its mma.sync rewrite; 17-34 of 34 with queries scaled by 3), so
// the inputs plant each block's representatives (fused_and_explicit).
struct FusedComparison {
  std::size_t retrievals = 0, same = 0;  // execution blocks, and those that retrieved the same blocks
  double err = 0;                        // max |difference| of their outputs
  std::int64_t fused = 0, explicit_fused = 0;
  bool starts_match = true;
};
FusedComparison compare_fused_with_explicit(MemoryMode mode, at::Device device, at::ScalarType dtype) {
  const auto c = tiny_config(8, 2, 64);
  model::Rope rope(c, std::nullopt, std::nullopt, device, false);
  AttentionConfig a;
  a.mode = mode;
  a.n_local = 256;
  a.n_init = 16;
  a.block_size = 32;
  a.exc_block_size = 64;
  a.topk = 4;
  a.repr_topk = 2;
  a.max_cached_block = 8;
  a.question_weight = 2;
  const std::vector<std::int64_t> chunks{512, 512, 300, 1, 1, 700};
  // The question's vector is the mean of its two best-scored tokens: the span holds two planted
  // keys (36 and 53), so that choice has no near tie either.
  const std::optional<memory::QuestionSpan> span{{30, 60}};
  memory::BlockMemory fused_memory(rope, a, span, device), explicit_memory(rope, a, span, device);
  const auto [got, expected] = fused_and_explicit(fused_memory, explicit_memory, chunks, device, dtype,
                                                  Planted{a.n_init, a.block_size});
  const auto& rf = fused_memory.retrievals();
  const auto& re = explicit_memory.retrievals();
  FusedComparison r;
  r.retrievals = rf.size();
  r.fused = fused_memory.fused_blocks();
  r.explicit_fused = explicit_memory.fused_blocks();
  r.starts_match = rf.size() == re.size();
  for (std::size_t i = 0; i < rf.size() && r.starts_match; ++i) {
    r.starts_match = rf[i].query_start == re[i].query_start;
    if (rf[i].blocks != re[i].blocks) continue;
    ++r.same;
    const std::int64_t end = i + 1 < rf.size() ? rf[i + 1].query_start : got.size(2);
    const std::int64_t begin = rf[i].query_start;
    r.err = std::max(r.err, max_abs(got.narrow(2, begin, end - begin), expected.narrow(2, begin, end - begin)));
  }
  return r;
}

// The documented policy, written plainly: a list in the order blocks entered the cache; a
// retrieval evicts the lowest scores first (ties: earliest entered), never a block it retrieves.
struct CacheModel {
  struct Entry {
    std::int64_t id;
    double score;
  };
  std::int64_t capacity;
  bool lru;
  double decay;
  std::vector<Entry> entries;
  std::int64_t clock = 0, hits = 0, misses = 0;

  bool cached(std::int64_t id) const {
    return std::any_of(entries.begin(), entries.end(), [&](const Entry& e) { return e.id == id; });
  }
  std::vector<std::int64_t> order() const {
    auto sorted = entries;
    std::stable_sort(sorted.begin(), sorted.end(), [](const Entry& a, const Entry& b) { return a.score < b.score; });
    std::vector<std::int64_t> ids;
    for (const auto& e : sorted) ids.push_back(e.id);
    return ids;
  }
  void retrieve(const std::vector<std::int64_t>& ids) {
    auto needed = std::int64_t(entries.size()) - capacity;
    for (auto id : ids) needed += !cached(id);
    for (auto victim : order()) {
      if (needed <= 0) break;
      if (std::find(ids.begin(), ids.end(), victim) != ids.end()) continue;
      entries.erase(std::find_if(entries.begin(), entries.end(), [&](const Entry& e) { return e.id == victim; }));
      --needed;
    }
    ++clock;
    for (auto id : ids) {
      if (cached(id)) {
        ++hits;
      } else {
        ++misses;
        entries.push_back({id, 0.0});
      }
      for (auto& e : entries)
        if (e.id == id) e.score = lru ? double(clock) : 0.0;
    }
  }
  void add_scores(const std::vector<std::int64_t>& ids, const std::vector<double>& received) {
    for (auto& e : entries) e.score *= decay;
    for (std::size_t i = 0; i < ids.size(); ++i)
      for (auto& e : entries)
        if (e.id == ids[i]) e.score += received[i];
  }
};

// The CPU, and CUDA where a device is present: the tests that check a kernel against the CPU's
// tensor ops run on both.
std::vector<at::Device> cpu_and_cuda() {
  std::vector<at::Device> devices{at::kCPU};
#ifdef QREAD_WITH_CUDA
  if (at::hasCUDA()) devices.push_back(at::kCUDA);
#endif
  return devices;
}

// Distinct random ids below `blocks`, at most `most` of them, ascending.
std::vector<std::int64_t> random_ids(std::mt19937_64& rng, std::int64_t blocks, std::int64_t most) {
  std::vector<std::int64_t> all(static_cast<std::size_t>(blocks));
  std::iota(all.begin(), all.end(), 0);
  std::shuffle(all.begin(), all.end(), rng);
  all.resize(std::size_t(std::min<std::int64_t>(blocks, 1 + std::int64_t(rng() % std::uint64_t(most)))));
  std::sort(all.begin(), all.end());
  return all;
}

}  // namespace

class TestMemoryProperties : public QObject {
  Q_OBJECT
  std::mt19937_64 rng_{qread::test::random_seed()};

 private Q_SLOTS:
  void initTestCase() { at::manual_seed(qread::test::random_seed()); }

  void windowedModesEqualFullAttentionInsideTheWindow_data() {
    QTest::addColumn<int>("mode");
    QTest::addRow("stream-llm") << int(MemoryMode::stream_llm);
    QTest::addRow("infinite-lm") << int(MemoryMode::infinite_lm);
    QTest::addRow("inf-llm") << int(MemoryMode::inf_llm);
    QTest::addRow("qllm") << int(MemoryMode::qllm);
  }
  void windowedModesEqualFullAttentionInsideTheWindow() {
    QFETCH(int, mode);
    const auto c = tiny_config(4, 2, 16);
    model::Rope rope(c, std::nullopt, std::nullopt, at::kCPU, false);
    for (int trial = 0; trial < 5; ++trial) {
      const std::int64_t total = 20 + std::int64_t(rng_() % 100);
      AttentionConfig a;
      a.mode = MemoryMode(mode);
      a.n_local = total + std::int64_t(rng_() % 20);  // the window covers everything
      a.n_init = 4;
      a.block_size = 8;
      a.topk = 2;
      a.repr_topk = 2;
      a.exc_block_size = 1 + std::int64_t(rng_() % std::min<std::int64_t>(a.n_local, 40));
      a.max_cached_block = 4;
      std::vector<std::int64_t> chunks;
      for (std::int64_t left = total; left > 0;) {
        chunks.push_back(std::min<std::int64_t>(left, 1 + std::int64_t(rng_() % 30)));
        left -= chunks.back();
      }
      auto q = at::randn({1, 4, total, 16}), k = at::randn({1, 2, total, 16}), v = at::randn({1, 2, total, 16});
      auto windowed = memory::make_memory(a, 0, rope, memory::QuestionSpan{2, 6}, at::kCPU);
      memory::DenseMemory dense(rope);
      const double err = max_abs(run_chunks(*windowed, q, k, v, chunks), dense.attend(q, k, v));
      QVERIFY2(err < 1e-5, qPrintable(QString("trial %1: %2").arg(trial).arg(err)));
    }
  }

  // On CUDA in bfloat16 StreamingLLM and LM-Infinite read a chunk through flash attention with a
  // sliding window plus the sinks, merged; the explicit path (fused kernels off) is the
  // expectation. Chunks straddle the moment the window fills and the sinks come into view.
  void windowedModesFusedEqualsExplicitOnCuda_data() {
    QTest::addColumn<int>("mode");
    QTest::addRow("stream-llm") << int(MemoryMode::stream_llm);
    QTest::addRow("infinite-lm") << int(MemoryMode::infinite_lm);
  }
  void windowedModesFusedEqualsExplicitOnCuda() {
#ifdef QREAD_WITH_CUDA
    if (!at::hasCUDA()) QSKIP("built with CUDA but no CUDA device is present");
    QFETCH(int, mode);
    const auto c = tiny_config(8, 2, 64);
    model::Rope rope(c, std::nullopt, std::nullopt, at::kCUDA, false);
    AttentionConfig a;
    a.mode = MemoryMode(mode);
    a.n_local = 96;
    a.n_init = 8;
    const std::vector<std::int64_t> chunks{40, 50, 13, 200, 64, 300, 1, 1, 30};
    auto fused_memory = memory::make_memory(a, 0, rope, std::nullopt, at::kCUDA);
    auto explicit_memory = memory::make_memory(a, 0, rope, std::nullopt, at::kCUDA);
    const auto [got, expected] = fused_and_explicit(*fused_memory, *explicit_memory, chunks);
    const double err = max_abs(got, expected);
    qInfo("fused vs explicit, bf16: max |diff| %.3g", err);
    QVERIFY2(err < 3e-2, qPrintable(QString::number(err)));
#else
    QSKIP("CPU build: the fused path is checked on the device (tools/device)");
#endif
  }

  void multiStageMergeEqualsOneSoftmax() {
    for (int trial = 0; trial < 10; ++trial) {
      const std::int64_t hq = 4, hkv = trial % 2 ? 2 : 4, tq = 1 + std::int64_t(rng_() % 9), d = 8;
      memory::MultiStageAttention attention;
      std::vector<at::Tensor> qs, ks, vs, masks;
      const int stages = 1 + int(rng_() % 3);
      for (int s = 0; s < stages; ++s) {
        const std::int64_t tk = std::int64_t(rng_() % 12);
        qs.push_back(at::randn({1, hq, tq, d}));  // each stage has its own rotated queries
        ks.push_back(at::randn({1, hkv, tk, d}));
        vs.push_back(at::randn({1, hkv, tk, d}));
        masks.push_back(at::rand({tq, tk}) > 0.3);
        if (s == 0) {  // every query sees at least one key
          ks.back() = at::randn({1, hkv, tk + 1, d});
          vs.back() = at::randn({1, hkv, tk + 1, d});
          masks.back() = at::cat({at::ones({tq, 1}, at::kBool), masks.back()}, 1);
        }
        attention.add_stage(qs.back(), ks.back(), vs.back(), masks.back(), true);
      }
      auto out = attention.finish();
      // Expected: per head, the logits of all stages side by side, one softmax, one weighted sum.
      const std::int64_t group = hq / hkv;
      for (std::int64_t h = 0; h < hq; ++h) {
        std::vector<at::Tensor> logits, values;
        for (int s = 0; s < stages; ++s) {
          auto l = at::matmul(qs[s][0][h], ks[s][0][h / group].t()) / std::sqrt(double(d));
          logits.push_back(l.masked_fill(masks[s].logical_not(), -INFINITY));
          values.push_back(vs[s][0][h / group]);
        }
        auto p = at::softmax(at::cat(logits, 1), 1);
        auto expected = at::matmul(p, at::cat(values, 0));
        QVERIFY(max_abs(out[0][h], expected) < 1e-5);
        std::int64_t at = 0;
        for (int s = 0; s < stages; ++s) {
          const auto n = ks[s].size(2);
          QCOMPARE(attention.score(s)[h].numel(), n);
          if (n > 0) QVERIFY(max_abs(attention.score(s)[h], p.narrow(1, at, n).sum(0)) < 1e-5);
          at += n;
        }
      }
    }
  }

  void questionSteersRetrieval() {
    // In the space where global queries meet memory keys: u is the question's direction, w the
    // direction of every other query. One block's keys point along u, three along w.
    const std::int64_t d = 16, total = 1024;
    const auto c = tiny_config(1, 1, d);
    model::Rope rope(c, std::nullopt, std::nullopt, at::kCPU, false);
    AttentionConfig a;
    a.n_init = 0;
    a.n_local = 64;
    a.block_size = 16;
    a.topk = 2;
    a.repr_topk = 4;
    a.exc_block_size = 16;
    a.max_cached_block = 8;
    a.question_weight = 4.0;
    auto u = at::zeros({d}), w = at::zeros({d});
    u[3] = 1.0;
    w[9] = 1.0;
    // Global queries are rotated to position n_local - 1: undo that rotation so that they land on u, w.
    auto [cos, sin] = rope.cos_sin(a.n_local - 1, 1);
    auto unrotate = [&](const at::Tensor& x) {
      auto halves = x.chunk(2, -1);
      auto rotated_half = at::cat({halves[1].neg(), halves[0]}, -1);
      return x * cos[0] - rotated_half * sin[0];
    };
    auto q = 0.05 * at::randn({1, 1, total, d}) + unrotate(w);
    auto k = 0.05 * at::randn({1, 1, total, d});
    auto v = at::randn({1, 1, total, d});
    const memory::QuestionSpan question{8, 13};
    q.narrow(2, question.begin, question.end - question.begin).copy_(unrotate(u).expand({1, 1, 5, d}));
    const std::int64_t planted = 400;
    k.narrow(2, planted, 16).add_(3 * u);
    for (std::int64_t distractor : {208, 608, 800}) k.narrow(2, distractor, 16).add_(3 * w);

    std::int64_t blocks = 0;
    auto retrieved_last = [&](MemoryMode mode) {
      a.mode = mode;
      memory::BlockMemory m(rope, a, question, at::kCPU);
      run_chunks(m, q, k, v, {256, 256, 256, 255, 1});
      blocks = m.store().size();
      std::vector<std::int64_t> starts;
      for (auto id : m.retrievals().back().blocks) starts.push_back(m.store().start_of(id));
      return starts;
    };
    const auto qllm = retrieved_last(MemoryMode::qllm);
    const auto infllm = retrieved_last(MemoryMode::inf_llm);
    QCOMPARE(blocks, (total - a.n_local) / a.block_size);
    auto has = [](const std::vector<std::int64_t>& v, std::int64_t x) { return std::find(v.begin(), v.end(), x) != v.end(); };
    QVERIFY2(has(qllm, planted), "Q-LLM did not retrieve the block aligned with the question");
    QVERIFY2(!has(infllm, planted), "InfLLM retrieved the question's block without the question");
    QVERIFY(has(infllm, 208) || has(infllm, 608) || has(infllm, 800));
  }

  void questPageBoundIsAnUpperBound() {
    const auto c = tiny_config(4, 2, 16);
    model::Rope rope(c, std::nullopt, std::nullopt, at::kCPU);
    for (int trial = 0; trial < 5; ++trial) {
      const std::int64_t page = 1 + std::int64_t(rng_() % 16), total = 50 + std::int64_t(rng_() % 300);
      memory::QuestMemory quest(rope, page, 4 * page);
      auto k = 2 * at::randn({1, 2, total, 16});
      quest.attend(at::randn({1, 4, total, 16}), k, at::randn({1, 2, total, 16}));
      auto q = 3 * at::randn({1, 4, 1, 16});
      const auto bounds = quest.page_bounds(q);  // [Hq, pages]
      auto k_rot = rope.apply(k, 0);
      for (std::int64_t h = 0; h < 4; ++h) {
        auto dots = at::matmul(k_rot[0][h / 2], q[0][h][0]);  // [total]
        for (std::int64_t p = 0; p * page < total; ++p) {
          const double true_max = dots.narrow(0, p * page, std::min(page, total - p * page)).max().item<double>();
          QVERIFY2(bounds[h][p].item<double>() >= true_max - 1e-4,
                   qPrintable(QString("head %1 page %2: bound %3 < %4").arg(h).arg(p).arg(bounds[h][p].item<double>()).arg(true_max)));
        }
      }
    }
  }

  void questKeepsTheCriticalPageAndEqualsDenseWithinBudget() {
    const auto c = tiny_config(2, 1, 16);
    model::Rope rope(c, std::nullopt, std::nullopt, at::kCPU);
    const std::int64_t total = 256, page = 16;
    auto q = at::randn({1, 2, total + 1, 16}), k = 0.1 * at::randn({1, 1, total + 1, 16}), v = at::randn({1, 1, total + 1, 16});
    // A budget covering everything: the same as full attention.
    memory::QuestMemory roomy(rope, page, 1024);
    memory::DenseMemory dense(rope);
    QVERIFY(max_abs(run_chunks(roomy, q, k, v, {total, 1}), run_chunks(dense, q, k, v, {total, 1})) < 1e-5);
    // One key far more aligned with the last query than any other: its page must be selected.
    memory::QuestMemory tight(rope, page, 2 * page);
    auto q_last = rope.apply(q.narrow(2, total, 1), total);
    const std::int64_t planted = 100;
    // Choose the planted (unrotated) key so that its rotated version is 5 * the rotated query.
    auto [cos, sin] = rope.cos_sin(planted, 1);
    auto target = 5 * q_last[0][0][0];
    auto halves = target.chunk(2, -1);
    k[0][0][planted].copy_(target * cos[0] - at::cat({halves[1].neg(), halves[0]}, -1) * sin[0]);
    tight.attend(q.narrow(2, 0, total), k.narrow(2, 0, total), v.narrow(2, 0, total));
    tight.attend(q.narrow(2, total, 1), k.narrow(2, total, 1), v.narrow(2, total, 1));
    auto chosen = tight.select_pages(q_last);
    QCOMPARE(chosen.size(1), 2);
    auto pages = chosen[0];
    QVERIFY((pages == planted / page).any().item<bool>());
    QVERIFY((pages == total / page).any().item<bool>());  // the newest page
  }

  // The decode step whose position lives on the device (what a CUDA graph captures) equals the
  // ordinary step, on the CPU as well: positions past the token are masked out of a cache
  // reserved larger than needed.
  void denseStepAtDevicePositionEqualsAttend() {
    const auto c = tiny_config(4, 2, 16);
    model::Rope rope(c, std::nullopt, std::nullopt, at::kCPU);
    const std::int64_t prompt = 5 + std::int64_t(rng_() % 30), steps = 12;
    auto q = at::randn({1, 4, prompt + steps, 16}), k = at::randn({1, 2, prompt + steps, 16}),
         v = at::randn({1, 2, prompt + steps, 16});
    memory::DenseMemory plain(rope), stepped(rope);
    plain.attend(q.narrow(2, 0, prompt), k.narrow(2, 0, prompt), v.narrow(2, 0, prompt));
    stepped.attend(q.narrow(2, 0, prompt), k.narrow(2, 0, prompt), v.narrow(2, 0, prompt));
    QVERIFY(stepped.reserve(prompt + steps + 7));
    const auto [cos, sin] = rope.cos_sin(0, stepped.capacity());
    const auto slots = at::arange(stepped.capacity());
    for (std::int64_t t = prompt; t < prompt + steps; ++t) {
      const auto position = at::full({1}, t, at::kLong);
      memory::DenseMemory::Step step{position, cos.index_select(0, position), sin.index_select(0, position),
                                     slots <= position};
      const auto expected = plain.attend(q.narrow(2, t, 1), k.narrow(2, t, 1), v.narrow(2, t, 1));
      const auto got = stepped.attend_step(q.narrow(2, t, 1), k.narrow(2, t, 1), v.narrow(2, t, 1), step);
      stepped.advance();
      QVERIFY2(max_abs(got, expected) < 1e-5, qPrintable(QString("position %1: %2").arg(t).arg(max_abs(got, expected))));
    }
    QCOMPARE(stepped.length(), prompt + steps);
  }

  void blocksKeepTheirContentAcrossArenas() {
    // Several hundred blocks added in batches of random sizes fill several host arenas (the
    // next one made on a helper thread); every block reads back as it went in, and a cleared
    // store starts over.
    const std::int64_t heads = 2, block = 4, dim = 3;
    BlockStore store(8, CacheStrategy::lru, std::nullopt, at::kCPU);
    for (int round = 0; round < 2; ++round) {
      std::vector<at::Tensor> keys, values;
      std::int64_t added = 0;
      while (added < 300) {
        const std::int64_t n = 1 + std::int64_t(rng_() % (round == 0 ? 9 : 70));
        auto k = at::randn({1, heads, n * block, dim}), v = at::randn({1, heads, n * block, dim});
        QCOMPARE(store.add_blocks(k, v, n, added * block), added);
        for (std::int64_t i = 0; i < n; ++i) {
          keys.push_back(k.narrow(2, i * block, block).clone());
          values.push_back(v.narrow(2, i * block, block).clone());
        }
        added += n;
      }
      QCOMPARE(store.size(), added);
      for (int trial = 0; trial < 50; ++trial) {
        std::vector<std::int64_t> ids{std::int64_t(rng_() % added), std::int64_t(rng_() % added)};
        if (ids[0] == ids[1]) ids.pop_back();
        auto [k, v] = store.retrieve(ids);
        for (std::size_t j = 0; j < ids.size(); ++j) {
          QVERIFY(at::equal(k.narrow(2, std::int64_t(j) * block, block), keys[std::size_t(ids[j])]));
          QVERIFY(at::equal(v.narrow(2, std::int64_t(j) * block, block), values[std::size_t(ids[j])]));
          QCOMPARE(store.start_of(ids[j]), ids[j] * block);
        }
      }
      store.clear();
      QCOMPARE(store.size(), std::int64_t(0));
    }
  }

  void cachePolicyMatchesPlainModel_data() {
    QTest::addColumn<bool>("lru");
    QTest::addRow("lru") << true;
    QTest::addRow("lru-s") << false;
  }
  void cachePolicyMatchesPlainModel() {
    // Random retrievals (sizes up to the capacity, over few blocks so that hits are common), and
    // for lru-s random received attention, some of it tied: the store's order, hits and misses
    // follow the plain model at every step.
    QFETCH(bool, lru);
    for (int round = 0; round < 20; ++round) {
      const std::int64_t capacity = 1 + std::int64_t(rng_() % 8), blocks = capacity + 1 + std::int64_t(rng_() % 12);
      const double decay = 0.25 * double(1 + rng_() % 4);
      BlockStore store(capacity, lru ? CacheStrategy::lru : CacheStrategy::lru_s, decay, at::kCPU);
      for (std::int64_t b = 0; b < blocks; ++b) store.add(at::full({1, 1, 2, 2}, float(b)), at::zeros({1, 1, 2, 2}), 2 * b);
      CacheModel model{capacity, lru, decay, {}};
      for (int step = 0; step < 60; ++step) {
        const auto ids = random_ids(rng_, blocks, capacity);
        auto [k, v] = store.retrieve(ids);
        model.retrieve(ids);
        for (std::size_t j = 0; j < ids.size(); ++j) QCOMPARE(k[0][0][2 * std::int64_t(j)][0].item<float>(), float(ids[j]));
        if (!lru) {
          std::vector<double> received;
          for (std::size_t j = 0; j < ids.size(); ++j) received.push_back(double(rng_() % 4) * 0.5);
          store.add_scores(ids, received);
          model.add_scores(ids, received);
        }
        QCOMPARE(store.eviction_order(), model.order());
        QCOMPARE(store.counters().cache_hits, model.hits);
        QCOMPARE(store.counters().cache_misses, model.misses);
      }
    }
  }

  void blockModesFusedEqualsExplicitOnCuda_data() {
    QTest::addColumn<int>("mode");
    QTest::addRow("qllm") << int(MemoryMode::qllm);
    QTest::addRow("inf-llm") << int(MemoryMode::inf_llm);
  }
  void blockModesFusedEqualsExplicitOnCuda() {
#ifdef QREAD_WITH_CUDA
    if (!at::hasCUDA()) QSKIP("built with CUDA but no CUDA device is present");
    // Flash attention for both stages, merged by log-sum-exp, against the explicit multi-stage
    // softmax, bf16 (the first execution blocks take the explicit path in both). Most execution
    // blocks must retrieve the same blocks (with the representatives planted, all should).
    QFETCH(int, mode);
    const auto r = compare_fused_with_explicit(MemoryMode(mode), at::kCUDA, at::kBFloat16);
    QVERIFY(r.starts_match);
    QCOMPARE(r.explicit_fused, std::int64_t(0));
    QVERIFY(r.fused * 2 > std::int64_t(r.retrievals));
    qInfo("fused vs explicit, bf16: %zu of %zu retrievals identical (%lld fused), where identical max |diff| %.3g",
          r.same, r.retrievals, (long long)r.fused, r.err);
    QVERIFY2(2 * r.same >= r.retrievals, qPrintable(QString("%1 of %2").arg(r.same).arg(r.retrievals)));
    QVERIFY2(r.err < 5e-2, qPrintable(QString::number(r.err)));
#else
    QSKIP("CPU build: the fused path is checked on the device (tools/device)");
#endif
  }

  void blockModesFusedEqualsExplicitOnCpu() {
    // The fused path's own logic on the CPU, float32, with flash attention's reference stand-in
    // (compat::set_reference_flash_on_cpu): two stages merged by log-sum-exp, the window sums
    // added into the running scores. Against the explicit multi-stage softmax, as on CUDA.
    struct ReferenceFlash {
      ReferenceFlash() { compat::set_reference_flash_on_cpu(true); }
      ~ReferenceFlash() { compat::set_reference_flash_on_cpu(false); }
    } reference;
    for (auto mode : {MemoryMode::qllm, MemoryMode::inf_llm}) {
      const auto r = compare_fused_with_explicit(mode, at::kCPU, at::kFloat);
      QVERIFY(r.starts_match);
      QCOMPARE(r.explicit_fused, std::int64_t(0));
      QVERIFY(r.fused * 2 > std::int64_t(r.retrievals));
      qInfo("%s: %zu of %zu retrievals identical (%lld fused), max |diff| %.3g",
            mode == MemoryMode::qllm ? "qllm" : "inf-llm", r.same, r.retrievals, (long long)r.fused, r.err);
      // Float32: near ties are rare.
      QVERIFY2(10 * r.same >= 9 * r.retrievals, qPrintable(QString("%1 of %2").arg(r.same).arg(r.retrievals)));
      QVERIFY2(r.err < 1e-4, qPrintable(QString::number(r.err)));
    }
  }

  void fusedMergeAndWindowSumsEqualTensorOps() {
#ifdef QREAD_WITH_CUDA
    if (!at::hasCUDA()) QSKIP("built with CUDA but no CUDA device is present");
    // The merge kernel against compat::merge_attention (strided inputs as flash returns them,
    // rows where one part or both saw no key), and the window sums against the masked softmax
    // sums, on CUDA.
    const std::int64_t heads = 6, tokens = 37, dim = 64, window = 40;
    auto opts = at::TensorOptions().device(at::kCUDA);
    auto a = at::randn({1, tokens, heads, dim}, opts).transpose(1, 2), b = at::randn({1, tokens, heads, dim}, opts).transpose(1, 2);
    auto lse_a = at::randn({1, heads, tokens}, opts), lse_b = at::randn({1, heads, tokens}, opts);
    const float inf = std::numeric_limits<float>::infinity();
    lse_a.select(2, 3).fill_(-inf);
    lse_b.select(2, 5).fill_(-inf);
    lse_a.select(2, 7).fill_(-inf);
    lse_b.select(2, 7).fill_(-inf);
    auto [out, lse] = model::fused_merge_attention(a, lse_a, b, lse_b);
    QVERIFY(out.defined());
    auto [expected_out, expected_lse] = compat::merge_attention(a, lse_a, b, lse_b);
    const double merge_err = max_abs(out, expected_out);
    QVERIFY(at::equal(at::isinf(lse), at::isinf(expected_lse)));
    const auto finite = at::isfinite(expected_lse);
    const double lse_err = max_abs(lse.masked_select(finite), expected_lse.masked_select(finite));
    QCOMPARE(out.select(2, 7).abs().max().item<float>(), 0.0f);
    qInfo("merge max |diff| %.3g (lse %.3g)", merge_err, lse_err);
    QVERIFY(merge_err < 1e-5 && lse_err < 1e-5);
    // Written into rows of a [1, T, H, D] buffer (the layout the model reads), the rest untouched.
    auto buffer = at::full({1, tokens + 2, heads, dim}, 7.0, opts);
    auto into = buffer.narrow(1, 1, tokens).transpose(1, 2);
    auto [written, written_lse] = model::fused_merge_attention(a, lse_a, b, lse_b, into);
    QCOMPARE(written.data_ptr(), into.data_ptr());
    QVERIFY(at::equal(into, out) && at::equal(written_lse, lse));
    QVERIFY((buffer.select(1, 0) == 7).all().item<bool>() && (buffer.select(1, tokens + 1) == 7).all().item<bool>());

    // The window sums: float32 and bf16 logits, rows of even length (the kernel's paired loads)
    // and odd, more keys than one thread block takes.
    for (auto [dtype, keys] : {std::pair{at::kFloat, 90}, std::pair{at::kFloat, 151}, std::pair{at::kBFloat16, 150}}) {
      auto logits = (at::randn({heads, tokens, keys}, opts) * 3).to(dtype);
      auto row_lse = at::randn({heads, tokens}, opts) + 4;
      const std::int64_t offset = keys - tokens;
      const double scale = 0.125;
      auto got = model::fused_window_attention_received(logits, row_lse, offset, window, scale);
      auto visible = memory::window_mask(tokens, keys, offset, window, at::kCUDA);
      auto want = at::exp(logits.to(at::kFloat) * scale - row_lse.unsqueeze(-1))
                      .masked_fill(visible.logical_not(), 0)
                      .sum(1);
      const double sum_err = max_abs(got, want) / want.abs().max().item<double>();
      // Added into a strided slice of running scores, as the block memory keeps them.
      auto running = at::rand({heads, keys + 9}, opts), before = running.clone();
      auto added =
          model::fused_window_attention_received(logits, row_lse, offset, window, scale, running.narrow(1, 4, keys));
      QCOMPARE(added.data_ptr(), running.narrow(1, 4, keys).data_ptr());
      const double add_err = max_abs(running.narrow(1, 4, keys), before.narrow(1, 4, keys) + want) /
                             want.abs().max().item<double>();
      QVERIFY(at::equal(running.narrow(1, 0, 4), before.narrow(1, 0, 4)) &&
              at::equal(running.narrow(1, keys + 4, 5), before.narrow(1, keys + 4, 5)));
      qInfo("window sums (%s, %d keys) max relative diff %.3g, added %.3g", c10::toString(dtype), keys, sum_err,
            add_err);
      QVERIFY(sum_err < 1e-5 && add_err < 1e-5);
    }

    // The same sums from the queries and keys by the tensor-core kernel, against float sums of
    // exact products: grouped heads, queries and keys as strided head views of a QKV-like
    // buffer, key counts off the kernel's tiles of 16 and 128, one query (decoding), head sizes
    // 128 and 64, bf16 and f16; added into a strided slice of running scores.
    struct Case {
      at::ScalarType dtype;
      std::int64_t dim, heads, kv_heads, queries, keys, window;
    };
    for (auto c : {Case{at::kBFloat16, 128, 8, 2, 37, 77, 40}, Case{at::kBFloat16, 128, 8, 2, 300, 556, 256},
                   Case{at::kHalf, 64, 6, 3, 513, 713, 200}, Case{at::kBFloat16, 128, 4, 1, 1, 129, 128},
                   Case{at::kBFloat16, 64, 8, 2, 44, 300, 256}}) {
      const std::int64_t width = (c.heads + 2 * c.kv_heads) * c.dim;
      auto q = (at::randn({c.queries, width}, opts) * 2)
                   .to(c.dtype)
                   .narrow(1, 0, c.heads * c.dim)
                   .view({c.queries, c.heads, c.dim})
                   .transpose(0, 1)
                   .unsqueeze(0);
      auto k = (at::randn({c.keys, width}, opts) * 2)
                   .to(c.dtype)
                   .narrow(1, c.heads * c.dim, c.kv_heads * c.dim)
                   .view({c.keys, c.kv_heads, c.dim})
                   .transpose(0, 1)
                   .unsqueeze(0);
      const std::int64_t offset = c.keys - c.queries, group = c.heads / c.kv_heads;
      const double scale = 1.0 / std::sqrt(double(c.dim));
      auto products = at::matmul(q.squeeze(0).to(at::kDouble),
                                 k.squeeze(0).to(at::kDouble).repeat_interleave(group, 0).transpose(1, 2)) *
                      scale;  // [H, Tq, Tk]
      auto visible = memory::window_mask(c.queries, c.keys, offset, c.window, at::kCUDA);
      auto masked = products.masked_fill(visible.logical_not(), -std::numeric_limits<double>::infinity());
      // The window's own log-sum-exp plus a random share for other keys (the global stage).
      auto row_lse = (at::logsumexp(masked, 2) + at::rand({c.heads, c.queries}, opts.dtype(at::kDouble))).to(at::kFloat);
      auto want = at::exp(masked - row_lse.to(at::kDouble).unsqueeze(-1)).sum(1);
      auto got = model::fused_window_sums(q, k, row_lse, offset, c.window, scale);
      QVERIFY(got.defined());
      const double err = max_abs(got.to(at::kDouble), want) / want.abs().max().item<double>();
      auto running = at::rand({c.heads, c.keys + 9}, opts), before = running.clone();
      auto added = model::fused_window_sums(q, k, row_lse, offset, c.window, scale, running.narrow(1, 4, c.keys));
      QCOMPARE(added.data_ptr(), running.narrow(1, 4, c.keys).data_ptr());
      const double add_err = max_abs(running.narrow(1, 4, c.keys).to(at::kDouble),
                                     before.narrow(1, 4, c.keys).to(at::kDouble) + want) /
                             want.abs().max().item<double>();
      QVERIFY(at::equal(running.narrow(1, 0, 4), before.narrow(1, 0, 4)) &&
              at::equal(running.narrow(1, c.keys + 4, 5), before.narrow(1, c.keys + 4, 5)));
      qInfo("window sums from q and k (%s, D %lld, %lld queries, %lld keys) max relative diff %.3g, added %.3g",
            c10::toString(c.dtype), (long long)c.dim, (long long)c.queries, (long long)c.keys, err, add_err);
      QVERIFY(err < 1e-4 && add_err < 1e-4);
    }
    // Where the kernel does not apply: float32, a head size of 96.
    auto q32 = at::randn({1, 4, 16, 128}, opts), k32 = at::randn({1, 2, 32, 128}, opts);
    auto lse32 = at::zeros({4, 16}, opts);
    QVERIFY(!model::fused_window_sums(q32, k32, lse32, 16, 32, 0.1).defined());
    QVERIFY(!model::fused_window_sums(at::randn({1, 4, 16, 96}, opts).to(at::kBFloat16),
                                      at::randn({1, 2, 32, 96}, opts).to(at::kBFloat16), lse32, 16, 32, 0.1)
                 .defined());
#else
    QSKIP("CPU build: the kernels are checked on the device (tools/device)");
#endif
  }

  void representativesAreMeansOfTopScoredKeys() {
    // Against a plain loop: per block and query head, the mean of the r best-scored keys of
    // the head's KV head. On CUDA, the kernel against the same loop (bf16 keys: one rounding).
    const std::int64_t kv_heads = 2, group = 3, heads = kv_heads * group, block = 16, dim = 8, n = 5, r = 4;
    const auto devices = cpu_and_cuda();
    for (const auto& device : devices) {
      auto dtype = device.is_cuda() ? at::kBFloat16 : at::kFloat;
      // Keys inside a longer remainder (a strided view), scores a distinct permutation per row.
      auto all_keys = at::randn({1, kv_heads, n * block + 7, dim}).to(dtype);
      auto keys = all_keys.narrow(2, 3, n * block);
      auto scores = at::rand({heads, n * block + 2}).narrow(1, 1, n * block);
      auto got = memory::block_representatives(keys.to(device), scores.to(device), n, r).cpu().to(at::kFloat);
      // Written into rows of a larger table, as the memory keeps them: the same values, the rows
      // around untouched.
      auto table = at::full({n + 3, heads * dim}, 7.0, at::TensorOptions().dtype(dtype).device(device));
      auto written = memory::block_representatives(keys.to(device), scores.to(device), n, r, true, table.narrow(0, 2, n));
      QCOMPARE(written.data_ptr(), table.narrow(0, 2, n).data_ptr());
      QVERIFY(at::equal(table.narrow(0, 2, n).cpu().to(at::kFloat), got));
      QVERIFY((table.narrow(0, 0, 2).cpu() == 7).all().item<bool>() && (table[n + 2].cpu() == 7).all().item<bool>());
      auto k = keys.to(at::kFloat);
      double worst = 0;
      for (std::int64_t i = 0; i < n; ++i)
        for (std::int64_t h = 0; h < heads; ++h) {
          std::vector<std::pair<float, std::int64_t>> ranked;
          for (std::int64_t t = 0; t < block; ++t) ranked.push_back({scores[h][i * block + t].item<float>(), t});
          std::sort(ranked.rbegin(), ranked.rend());
          auto mean = at::zeros({dim});
          for (std::int64_t j = 0; j < r; ++j) mean += k[0][h / group][i * block + ranked[std::size_t(j)].second];
          mean /= double(r);
          worst = std::max(worst, max_abs(got[i].narrow(0, h * dim, dim), mean));
        }
      qInfo("%s: max |diff| %.3g", device.is_cuda() ? "CUDA kernel, bf16" : "CPU, float32", worst);
      QVERIFY2(worst < (device.is_cuda() ? 1e-2 : 1e-6), qPrintable(QString::number(worst)));
    }
  }

  void rowCopiesEqualAtenCopy() {
    // memory::copy_rows against dst.copy_(src) on random views (slices of larger buffers, with
    // offsets, some with the last dimension strided), of several types, on the CPU and CUDA:
    // the same values in dst, nothing outside it touched. Views of whole 8-byte words take the
    // word copy; the others, ATen's.
    const at::ScalarType types[] = {at::kBFloat16, at::kHalf, at::kFloat, at::kDouble, at::kByte};
    for (const auto& device : cpu_and_cuda()) {
      int words = 0, others = 0;
      for (int trial = 0; trial < 200; ++trial) {
        const auto type = types[rng_() % 5];
        const std::int64_t dims = 1 + std::int64_t(rng_() % 4);
        std::vector<std::int64_t> sizes;
        for (std::int64_t d = 0; d + 1 < dims; ++d) sizes.push_back(1 + std::int64_t(rng_() % 6));
        sizes.push_back(rng_() % 2 ? 8 * (1 + std::int64_t(rng_() % 4)) : 1 + std::int64_t(rng_() % 30));
        // A view of `sizes` inside a buffer with extra entries in each dimension, at a random
        // start: in whole 8-byte words (for every type here) half of the time; sometimes the
        // last two dimensions swapped (the last dimension not contiguous).
        auto view_in = [&](at::Tensor& buffer) {
          const bool aligned = rng_() % 2;
          std::vector<std::int64_t> outer;
          for (auto n : sizes) outer.push_back(n + std::int64_t(rng_() % 4));
          if (aligned) outer.back() = sizes.back() + 8 * std::int64_t(rng_() % 3);
          const bool swapped = dims >= 2 && rng_() % 5 == 0;
          if (swapped) std::swap(outer[std::size_t(dims - 1)], outer[std::size_t(dims - 2)]);
          buffer = (at::rand(outer, at::TensorOptions().dtype(at::kFloat)) * 100).to(type).to(device);
          auto view = buffer;
          if (swapped) view = view.transpose(dims - 1, dims - 2);
          for (std::int64_t d = 0; d < dims; ++d) {
            const std::int64_t room = view.size(d) - sizes[std::size_t(d)];
            std::int64_t start = std::int64_t(rng_() % std::uint64_t(room + 1));
            if (aligned && d + 1 == dims) start -= start % 8;
            view = view.narrow(d, start, sizes[std::size_t(d)]);
          }
          return view;
        };
        at::Tensor dst_buffer, src_buffer;
        auto dst = view_in(dst_buffer);
        const auto src = view_in(src_buffer);
        auto expected_buffer = dst_buffer.clone();
        // The same view of the clone.
        auto expected = expected_buffer.as_strided(dst.sizes(), dst.strides(), dst.storage_offset());
        expected.copy_(src);
        memory::copy_rows(dst, src);
        QVERIFY2(at::equal(dst_buffer, expected_buffer), qPrintable(QString("trial %1").arg(trial)));
        const std::int64_t ratio = 8 / std::int64_t(src.element_size());
        auto whole_words = [&](const at::Tensor& t) {
          bool ok = ratio > 1 && t.stride(-1) == 1 && t.size(-1) % ratio == 0 && t.storage_offset() % ratio == 0;
          for (std::int64_t d = 0; d + 1 < t.dim(); ++d) ok = ok && t.stride(d) % ratio == 0;
          return ok;
        };
        (whole_words(dst) && whole_words(src) ? words : others) += 1;
      }
      qInfo("%s: %d copies of whole words, %d others", device.is_cuda() ? "CUDA" : "CPU", words, others);
      QVERIFY(words >= 10 && others >= 10);
    }
  }

  void windowStateDoesNotGrowWithTheChunk() {
    // After a chunk, the block memory keeps the window, the remainder and the init tokens, not
    // the chunk they were cut from: the bytes held are the same for a chunk of 300 tokens as
    // for one of 3000, and bounded by the window, block and execution-block sizes.
    const auto c = tiny_config(4, 2, 16);
    model::Rope rope(c, std::nullopt, std::nullopt, at::kCPU, false);
    AttentionConfig a;
    a.mode = MemoryMode::qllm;
    a.n_local = 64;
    a.n_init = 8;
    a.block_size = 16;
    a.exc_block_size = 32;
    a.topk = 2;
    a.max_cached_block = 4;
    const std::int64_t per_token = 2 * c.num_kv_heads * c.head_dim * 4 + c.num_heads * 4;  // k, v and scores, float32
    const std::int64_t bound = (a.n_local + a.block_size + a.exc_block_size) * 2 * per_token + 2 * a.n_init * per_token;
    std::vector<std::int64_t> held;
    for (std::int64_t chunk : {300, 3000}) {
      memory::BlockMemory m(rope, a, memory::QuestionSpan{2, 6}, at::kCPU);
      const std::int64_t tokens = 2 * chunk;
      auto q = at::randn({1, c.num_heads, tokens, c.head_dim}), k = at::randn({1, c.num_kv_heads, tokens, c.head_dim}),
           v = at::randn({1, c.num_kv_heads, tokens, c.head_dim});
      run_chunks(m, q, k, v, {chunk, chunk});  // as between two chunks of a prompt
      held.push_back(m.window_bytes());
      QVERIFY2(m.window_bytes() <= bound, qPrintable(QString("%1 > %2").arg(m.window_bytes()).arg(bound)));
    }
    qInfo("window state after chunks of 300 and 3000 tokens: %lld and %lld bytes (bound %lld)", (long long)held[0],
          (long long)held[1], (long long)bound);
  }

  void blockChoiceIsTopScoredBlocks() {
    // execution_block_means and select_blocks against plain loops in double: the mean query of
    // each execution block, then the k blocks whose representatives score highest against it
    // plus the weighted question. On the CPU the tensor ops, on CUDA the kernels (bf16 inputs).
    const auto devices = cpu_and_cuda();
    const std::int64_t heads = 4, dim = 16, exc = 8;
    for (const auto& device : devices) {
      const auto dtype = device.is_cuda() ? at::kBFloat16 : at::kFloat;
      int compared = 0, near_ties = 0;
      for (int trial = 0; trial < 40; ++trial) {
        const std::int64_t n = 1 + std::int64_t(rng_() % 300), t = 1 + std::int64_t(rng_() % 40);
        const std::int64_t k = std::vector<std::int64_t>{1, 3, 8, n + 2}[rng_() % 4];
        const double weight = trial % 2 ? 2.5 : 0.0;
        auto repr = at::randn({n, heads * dim}).to(dtype);
        auto queries = at::randn({1, heads, t, dim}).to(dtype);
        auto question = trial % 2 ? at::randn({heads * dim}).to(dtype) : at::Tensor();
        auto means = memory::execution_block_means(queries.to(device), exc);
        QCOMPARE(means.size(0), (t + exc - 1) / exc);
        auto r = repr.to(at::kDouble), q = queries.to(at::kDouble);
        for (std::int64_t e = 0; e < means.size(0); ++e) {
          const std::int64_t first = e * exc, count = std::min(exc, t - first);
          auto expected_mean = q[0].narrow(1, first, count).mean(1);  // [H, D]
          QVERIFY(max_abs(means[e].cpu().to(at::kDouble), expected_mean) < 1e-5);
          auto direction = expected_mean.reshape({-1});
          if (question.defined()) direction = direction + weight * question.to(at::kDouble);
          auto scores = at::matmul(r, direction);
          std::vector<std::pair<double, std::int64_t>> ranked;
          for (std::int64_t b = 0; b < n; ++b) ranked.push_back({scores[b].item<double>(), b});
          std::sort(ranked.begin(), ranked.end(), [](auto& a, auto& b) { return a.first > b.first; });
          const std::int64_t chosen = std::min(k, n);
          auto got = memory::select_blocks(repr.to(device), means[e], question.defined() ? question.to(device) : question,
                                           weight, k)
                         .cpu();
          QCOMPARE(got.numel(), chosen);
          std::vector<std::int64_t> ids(got.data_ptr<std::int64_t>(), got.data_ptr<std::int64_t>() + chosen);
          QVERIFY(std::is_sorted(ids.begin(), ids.end()));
          QVERIFY(std::adjacent_find(ids.begin(), ids.end()) == ids.end());
          // The set must be the exact top k unless the k-th and the next score nearly tie.
          const double scale = std::abs(ranked.front().first) + 1.0;
          if (chosen < n && ranked[std::size_t(chosen - 1)].first - ranked[std::size_t(chosen)].first < 1e-4 * scale) {
            ++near_ties;
            continue;
          }
          std::vector<std::int64_t> expected;
          for (std::int64_t i = 0; i < chosen; ++i) expected.push_back(ranked[std::size_t(i)].second);
          std::sort(expected.begin(), expected.end());
          QCOMPARE(ids, expected);
          ++compared;
        }
      }
      qInfo("%s: %d choices equal to the plain loop's, %d near ties skipped",
            device.is_cuda() ? "CUDA kernels, bf16" : "CPU tensor ops, float32", compared, near_ties);
      QVERIFY(compared > 40);
    }
  }

  void cudaStoreEqualsCpuStore() {
#ifdef QREAD_WITH_CUDA
    if (!at::hasCUDA()) QSKIP("built with CUDA but no CUDA device is present");
    // The same adds, retrievals and scores on both stores: the CUDA store decides on the GPU and
    // copies missed blocks from pinned host memory; contents, orders and counters must agree.
    // The CUDA store's copy kernels both ways: a thread block per row, and 4 blocks taking turns
    // (holding an SM each).
    // Before some retrievals the CUDA store copies ahead a guess of the blocks it will ask for
    // (some right, some not): what it returns and evicts must not change.
    const std::int64_t heads = 8, block = 16, dim = 64, capacity = 6;
    for (auto [strategy, gather_sms] : {std::pair{CacheStrategy::lru, 4}, std::pair{CacheStrategy::lru_s, 0},
                                        std::pair{CacheStrategy::lru, 0}}) {
      BlockStore cpu(capacity, strategy, 0.5, at::kCPU), gpu(capacity, strategy, 0.5, at::kCUDA);
      gpu.set_gather_sms(gather_sms);
      gpu.set_stage_sms(strategy == CacheStrategy::lru_s ? 0 : 4);
      std::int64_t blocks = 0;
      for (int step = 0; step < 200; ++step) {
        // Now and then two groups of blocks between retrievals (the CUDA store holds back the
        // last group's copy to host memory until after the next retrieval).
        for (int adds = rng_() % 3 == 0 ? 1 + int(rng_() % 2) : 0; adds > 0 && blocks < 100; --adds) {
          const std::int64_t n = 1 + std::int64_t(rng_() % 5);
          auto k = at::randn({1, heads, n * block, dim}, at::kBFloat16);
          auto v = at::randn({1, heads, n * block, dim}, at::kBFloat16);
          QCOMPARE(cpu.add_blocks(k, v, n, blocks * block), blocks);
          QCOMPARE(gpu.add_blocks(k.cuda(), v.cuda(), n, blocks * block), blocks);
          blocks += n;
        }
        if (blocks == 0) continue;
        const auto ids = random_ids(rng_, std::min<std::int64_t>(blocks, 12), capacity);
        if (rng_() % 2) {
          // A guess: some of the ids, and some blocks not asked for.
          std::vector<std::int64_t> guess;
          for (auto id : ids)
            if (rng_() % 3) guess.push_back(id);
          for (auto id : random_ids(rng_, blocks, 2))
            if (std::find(guess.begin(), guess.end(), id) == guess.end()) guess.push_back(id);
          gpu.stage(std::int64_t(guess.size()) + int(rng_() % 2),
                    [&] { return at::tensor(guess, at::kLong).cuda(); }, {});
          cpu.stage(std::int64_t(guess.size()), [&]() -> at::Tensor { throw std::logic_error("staged on the CPU"); }, {});
        }
        auto [ck, cv] = cpu.retrieve(ids);
        auto [gk, gv] = gpu.retrieve(at::tensor(ids, at::kLong).cuda());
        gpu.ready();
        QVERIFY(at::equal(ck, gk.cpu()));
        QVERIFY(at::equal(cv, gv.cpu()));
        if (strategy == CacheStrategy::lru_s) {
          auto received = at::rand({std::int64_t(ids.size())});
          cpu.add_scores(at::tensor(ids, at::kLong), received);
          gpu.add_scores(at::tensor(ids, at::kLong).cuda(), received.cuda());
        }
        QCOMPARE(gpu.eviction_order(), cpu.eviction_order());
      }
      const auto c = gpu.counters();
      QCOMPARE(c.cache_misses, cpu.counters().cache_misses);
      QCOMPARE(c.cache_hits, cpu.counters().cache_hits);
      QVERIFY(c.misses_staged > 20 && c.misses_staged < c.cache_misses && c.blocks_staged >= c.misses_staged);
      QCOMPARE(c.bytes_to_device, 2 * (c.cache_misses - c.misses_staged + c.blocks_staged) * heads * block * dim * 2);
      QCOMPARE(cpu.counters().blocks_staged, std::int64_t(0));
      qInfo("%s, gather blocks %d: %lld hits, %lld misses, %lld of them read from %lld blocks copied ahead",
            strategy == CacheStrategy::lru ? "lru" : "lru-s", gather_sms, (long long)c.cache_hits,
            (long long)c.cache_misses, (long long)c.misses_staged, (long long)c.blocks_staged);
    }
#else
    QSKIP("CPU build: the CUDA store is checked on the device (tools/device)");
#endif
  }

  void lruEvictsLeastRecentlyRetrieved() {
    BlockStore store(3, CacheStrategy::lru, std::nullopt, at::kCPU);
    for (int i = 0; i < 5; ++i) store.add(at::full({1, 1, 2, 2}, float(i)), at::zeros({1, 1, 2, 2}), 2 * i);
    store.retrieve({0, 1, 2});
    store.retrieve({3});  // evicts 0, the oldest of equals (first in)
    QCOMPARE(store.eviction_order(), (std::vector<std::int64_t>{1, 2, 3}));
    auto [k, v] = store.retrieve({1});  // a hit: 1 becomes the most recent
    QCOMPARE(k[0][0][0][0].item<float>(), 1.0f);
    store.retrieve({4});  // evicts 2
    QCOMPARE(store.eviction_order(), (std::vector<std::int64_t>{3, 1, 4}));
    QCOMPARE(store.counters().cache_hits, 1);
    QCOMPARE(store.counters().cache_misses, 5);
    // Blocks being retrieved are never evicted, even the least recent.
    store.retrieve({3, 0});
    QCOMPARE(store.eviction_order(), (std::vector<std::int64_t>{4, 3, 0}));
  }

  void lruSEvictsLowestDecayedScore() {
    BlockStore store(3, CacheStrategy::lru_s, 0.5, at::kCPU);
    for (int i = 0; i < 4; ++i) store.add(at::zeros({1, 1, 2, 2}), at::zeros({1, 1, 2, 2}), 2 * i);
    store.retrieve({0, 1});
    store.add_scores({0, 1}, {0.5, 2.0});  // 0: 0.5, 1: 2.0
    store.retrieve({2});                   // 2 starts at 0
    store.add_scores({2}, {1.0});          // 0: 0.25, 1: 1.0, 2: 1.0
    QCOMPARE(store.eviction_order(), (std::vector<std::int64_t>{0, 1, 2}));
    store.retrieve({3});  // evicts 0; 3 starts at 0
    QCOMPARE(store.eviction_order(), (std::vector<std::int64_t>{3, 1, 2}));
    store.retrieve({1});  // retrieving resets a block's score to 0
    QCOMPARE(store.eviction_order(), (std::vector<std::int64_t>{1, 3, 2}));
  }
};

QTEST_APPLESS_MAIN(TestMemoryProperties)
#include "test_memory_properties.moc"
