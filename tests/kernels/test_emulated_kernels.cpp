// CUDA kernels run on the CPU (cuda_emulation.hpp) against plain references, on random inputs:
// the window sums from queries and keys (tensor-core tiles), the block choice (scores, top-k),
// the representative keys, the cache policy kernel against the host policy, the copy kernels
// that hold an SM against the ones spread over every row, the MLP activation and the merge into
// strided rows.
// This checks the kernels' logic wherever the tests run; their CUDA tests (test_memory_properties,
// test_runtime_transformer) check them on a GPU.
#define QREAD_CUDA_EMULATION 1
#include "cuda_emulation.hpp"

#include "activation.cuh"
#include "attention_merge.cuh"
#include "block_cache.cuh"
#include "window_sums.cuh"

#include "test_support.hpp"

#include <QtTest>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <tuple>
#include <vector>

using namespace qread::kernels;
using cuda_emulation::launch;

namespace {
double max_relative(const std::vector<double>& got, const std::vector<double>& want) {
  double worst = 0, scale = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    worst = std::max(worst, std::abs(got[i] - want[i]));
    scale = std::max(scale, std::abs(want[i]));
  }
  return scale > 0 ? worst / scale : worst;
}

template <typename T> T to_type(float v) {
  if constexpr (std::is_same_v<T, __nv_bfloat16>) return __float2bfloat16(v);
  else return __float2half(v);
}
template <typename T> float from_type(T v) { return cuda_emulation::element(v); }
}  // namespace

class TestEmulatedKernels : public QObject {
  Q_OBJECT
  std::mt19937_64 rng_{qread::test::random_seed()};
  std::int64_t pick(std::int64_t lo, std::int64_t hi) { return lo + std::int64_t(rng_() % std::uint64_t(hi - lo + 1)); }

  // Window sums of one case, D = 128 (bf16) or 64 (f16), against double sums of the same 16-bit
  // values, added into strided running scores.
  template <typename T, int D>
  double window_sums_case(std::int64_t heads, std::int64_t kv_heads, std::int64_t queries, std::int64_t keys,
                          std::int64_t window) {
    std::normal_distribution<float> normal(0.f, 2.f);
    const std::int64_t width = (heads + 2 * kv_heads) * D;  // q, k, v of a token side by side
    std::vector<T> q_rows(static_cast<std::size_t>(queries * width)), k_rows(static_cast<std::size_t>(keys * width));
    for (auto& x : q_rows) x = to_type<T>(normal(rng_));
    for (auto& x : k_rows) x = to_type<T>(normal(rng_));
    const T* q = q_rows.data();
    const T* k = k_rows.data() + heads * D;
    const std::int64_t offset = keys - queries, group = heads / kv_heads;
    const double scale = 1.0 / std::sqrt(double(D));
    std::vector<float> lse(static_cast<std::size_t>(heads * queries));
    std::vector<double> want(std::size_t(heads * keys), 0.0);
    for (std::int64_t h = 0; h < heads; ++h)
      for (std::int64_t i = 0; i < queries; ++i) {
        std::vector<double> s(std::size_t(keys), -INFINITY);
        double m = -INFINITY;
        for (std::int64_t j = 0; j < keys; ++j) {
          if (i - j + offset < 0 || i - j + offset >= window) continue;
          double dot = 0;
          for (std::int64_t d = 0; d < D; ++d)
            dot += double(from_type(q[h * D + i * width + d])) * from_type(k[(h / group) * D + j * width + d]);
          s[std::size_t(j)] = dot * scale;
          m = std::max(m, dot * scale);
        }
        double z = 0;
        for (double x : s) z += std::isinf(x) ? 0.0 : std::exp(x - m);
        // The window's own normaliser plus a share for keys of another stage.
        const float l = float(m + std::log(z) + 0.5 * double(rng_() % 3));
        lse[std::size_t(h * queries + i)] = l;
        for (std::int64_t j = 0; j < keys; ++j)
          if (!std::isinf(s[std::size_t(j)])) want[std::size_t(h * keys + j)] += std::exp(s[std::size_t(j)] - double(l));
      }
    const std::int64_t stride = keys + 5;
    std::vector<float> score(std::size_t(heads * stride), 1.0f);
    const SumArgs args{q, D, width, k, D, width, lse.data(), score.data(), stride, group, queries, keys, offset,
                       window, float(scale), true};
    launch({unsigned((keys + kSumKeys - 1) / kSumKeys), unsigned(heads), 1}, 32 * kSumWarps,
           [&] { window_sums_kernel<T, D>(args); });
    std::vector<double> got(want.size());
    for (std::int64_t h = 0; h < heads; ++h) {
      for (std::int64_t j = 0; j < keys; ++j) got[std::size_t(h * keys + j)] = double(score[std::size_t(h * stride + j)]) - 1.0;
      for (std::int64_t j = keys; j < stride; ++j)
        if (score[std::size_t(h * stride + j)] != 1.0f) return INFINITY;  // past the row: untouched
    }
    return max_relative(got, want);
  }

 private Q_SLOTS:
  void windowSumsFromQueriesAndKeys() {
    // Grouped heads, key counts off the tiles of 16 and 128, queries off the tiles of 32, one
    // query (decoding), both head sizes and types.
    struct Case {
      std::int64_t heads, kv_heads, queries, keys, window;
    };
    for (auto c : {Case{4, 2, 37, 77, 40}, Case{2, 1, 150, 300, 128}, Case{4, 1, 1, 129, 128}, Case{1, 1, 300, 556, 256}}) {
      const double err = window_sums_case<__nv_bfloat16, 128>(c.heads, c.kv_heads, c.queries, c.keys, c.window);
      qInfo("bf16, D 128, %lld queries, %lld keys: max relative diff %.3g", (long long)c.queries, (long long)c.keys, err);
      QVERIFY2(err < 1e-4, qPrintable(QString::number(err)));
    }
    const double err = window_sums_case<__half, 64>(2, 2, 70, 200, 64);
    qInfo("f16, D 64, 70 queries, 200 keys: max relative diff %.3g", err);
    QVERIFY2(err < 1e-4, qPrintable(QString::number(err)));
    // The block memory tests' shape: an execution block of 44 queries after a full window.
    const double tail = window_sums_case<__nv_bfloat16, 64>(8, 2, 44, 300, 256);
    qInfo("bf16, D 64, 44 queries, 300 keys: max relative diff %.3g", tail);
    QVERIFY2(tail < 1e-4, qPrintable(QString::number(tail)));
  }

  void topBlocksAreTheBestScores() {
    // The k best scores (ties to the lower index, -inf among them), ascending, against a
    // stable sort; shared memory and (past 8192 scores) global memory.
    int trials = 0;
    for (std::int64_t n : {std::int64_t(1), std::int64_t(7), pick(30, 100), pick(300, 1000), std::int64_t(9000)})
      for (std::int64_t k : {std::int64_t(1), std::int64_t(3), std::int64_t(8), std::min<std::int64_t>(n, 64)})
        for (int variant = 0; variant < 2; ++variant) {
          const std::int64_t kk = std::min(k, n);
          std::vector<float> scores(static_cast<std::size_t>(n));
          for (auto& s : scores) s = float(pick(-20, 20));  // many ties
          if (variant == 1)
            for (std::size_t i = 0; i < scores.size(); i += 3) scores[i] = -INFINITY;
          std::vector<std::int64_t> order(static_cast<std::size_t>(n));
          std::iota(order.begin(), order.end(), 0);
          std::stable_sort(order.begin(), order.end(), [&](auto a, auto b) { return scores[a] > scores[b]; });
          std::vector<std::int64_t> want(order.begin(), order.begin() + kk);
          std::sort(want.begin(), want.end());
          std::vector<std::int64_t> ids(std::size_t(kk), -7);
          launch({1, 1, 1}, kTopThreads, [&] { top_blocks_kernel(scores.data(), n, kk, ids.data()); });
          QVERIFY2(ids == want, qPrintable(QString("n %1, k %2").arg(n).arg(kk)));
          ++trials;
        }
    qInfo("%d choices equal to the sorted scores'", trials);
  }

  void blockScoresAreDotProducts() {
    // Each block's representative row against the mean query plus the weighted question, in
    // float, against double sums: rows of 16-byte loads (several rounds of loads in flight) and
    // rows that are not.
    std::normal_distribution<float> normal;
    for (auto [heads, dim, question] : {std::tuple{32, 128, true}, std::tuple{4, 64, false}, std::tuple{3, 10, true}}) {
      const std::int64_t n = pick(1, 20), width = heads * dim, query_stride = dim + 4;
      std::vector<__nv_bfloat16> repr(std::size_t(n * width)), q_extra(static_cast<std::size_t>(width));
      for (auto& x : repr) x = __float2bfloat16(normal(rng_));
      for (auto& x : q_extra) x = __float2bfloat16(normal(rng_));
      std::vector<float> query(std::size_t(heads * query_stride));
      for (auto& x : query) x = normal(rng_);
      const float weight = 2.5f;
      std::vector<float> scores(std::size_t(n), -1.f);
      launch({unsigned((n + kScoreWarps - 1) / kScoreWarps), 1, 1}, 32 * kScoreWarps, [&] {
        block_scores_kernel<__nv_bfloat16>(repr.data(), n, heads, dim, query.data(), query_stride,
                                           question ? q_extra.data() : nullptr, weight, scores.data());
      });
      for (std::int64_t b = 0; b < n; ++b) {
        double want = 0;
        for (std::int64_t e = 0; e < width; ++e) {
          double q = query[std::size_t(e / dim * query_stride + e % dim)];
          if (question) q += double(weight) * double(__bfloat162float(q_extra[std::size_t(e)]));
          want += double(__bfloat162float(repr[std::size_t(b * width + e)])) * q;
        }
        QVERIFY2(std::abs(scores[std::size_t(b)] - want) <= 1e-4 * (1 + std::abs(want)),
                 qPrintable(QString("%1 against %2").arg(scores[std::size_t(b)]).arg(want)));
      }
    }
  }

  void representativesAreMeansOfTopScoredKeys() {
    // Per memory block and query head, the mean of the r keys (of the head's KV head) with the
    // highest scores, ties to the earlier key, against a sort; keys in a longer strided buffer.
    for (auto [n, block, r] : {std::tuple{3, 128, 4}, std::tuple{2, 40, 40}, std::tuple{5, 16, 1}}) {
      const std::int64_t kv_heads = 2, group = 3, heads = kv_heads * group, dim = 24;
      const std::int64_t head_stride = (n * block + 3) * dim, score_stride = n * block + 2;
      std::vector<__nv_bfloat16> keys(std::size_t(kv_heads * head_stride));
      std::normal_distribution<float> normal;
      for (auto& x : keys) x = __float2bfloat16(normal(rng_));
      std::vector<float> scores(std::size_t(heads * score_stride));
      for (auto& x : scores) x = float(pick(0, 30)) / 8.f;  // ties
      std::vector<__nv_bfloat16> out(std::size_t(n * heads * dim));
      launch({unsigned((n * heads + kRepresentativeWarps - 1) / kRepresentativeWarps), 1, 1}, 32 * kRepresentativeWarps,
             [&] { representatives_kernel<__nv_bfloat16>(keys.data(), head_stride, scores.data(), score_stride, out.data(),
                                                         n, block, heads, group, dim, r); });
      for (std::int64_t i = 0; i < n; ++i)
        for (std::int64_t h = 0; h < heads; ++h) {
          std::vector<std::int64_t> order(static_cast<std::size_t>(block));
          std::iota(order.begin(), order.end(), 0);
          const float* s = scores.data() + h * score_stride + i * block;
          std::stable_sort(order.begin(), order.end(), [&](auto a, auto b) { return s[a] > s[b]; });
          for (std::int64_t d = 0; d < dim; ++d) {
            float sum = 0.f;  // in the order chosen, as the kernel adds them
            for (std::int64_t j = 0; j < r; ++j)
              sum += __bfloat162float(keys[std::size_t((h / group) * head_stride + (i * block + order[std::size_t(j)]) * dim + d)]);
            QCOMPARE(out[std::size_t((i * heads + h) * dim + d)].bits, __float2bfloat16(sum / float(r)).bits);
          }
        }
    }
  }

  void cachePolicyKernelEqualsHostPolicy() {
    // The thread block's policy against block_cache_retrieve (the host's), step by step: the same
    // slots, misses, tables and counters; lru and lru-s (scores added between retrievals).
    struct State {
      std::vector<std::int64_t> slot_block, slot_entered, block_slot, counters;
      std::vector<double> slot_score;
      State(std::int64_t capacity, std::int64_t blocks)
          : slot_block(std::size_t(capacity), -1), slot_entered(std::size_t(capacity), 0),
            block_slot(std::size_t(blocks), -1), counters(4, 0), slot_score(std::size_t(capacity), 0.0) {}
      BlockCacheState view() {
        return {slot_block.data(), slot_score.data(), slot_entered.data(), block_slot.data(), counters.data(),
                std::int64_t(slot_block.size())};
      }
      bool operator==(const State&) const = default;
    };
    int steps = 0;
    for (std::int64_t capacity : {3, 8, 32})
      for (bool lru : {true, false}) {
        const std::int64_t blocks = 60;
        State host(capacity, blocks), device(capacity, blocks);
        for (int step = 0; step < 12; ++step) {
          const std::int64_t n = pick(1, std::min<std::int64_t>(capacity, 8));
          std::vector<std::int64_t> ids(static_cast<std::size_t>(blocks));
          std::iota(ids.begin(), ids.end(), 0);
          std::shuffle(ids.begin(), ids.end(), rng_);
          ids.resize(static_cast<std::size_t>(n));
          std::vector<std::int64_t> slot_host(static_cast<std::size_t>(n)), slot_device(static_cast<std::size_t>(n));
          std::vector<std::uint8_t> missed_host(static_cast<std::size_t>(n)), missed_device(static_cast<std::size_t>(n));
          block_cache_retrieve(host.view(), ids.data(), n, lru, slot_host.data(), missed_host.data());
          const auto state = device.view();
          launch({1, 1, 1}, kPolicyThreads,
                 [&] { parallel_policy_kernel(state, ids.data(), n, lru, slot_device.data(), missed_device.data()); });
          QVERIFY(slot_host == slot_device && missed_host == missed_device);
          QVERIFY(host == device);
          if (!lru) {
            std::vector<float> received(static_cast<std::size_t>(n));
            for (auto& x : received) x = float(pick(0, 99)) / 10.f;
            block_cache_add_scores(host.view(), ids.data(), n, received.data(), 0.5);
            block_cache_add_scores(device.view(), ids.data(), n, received.data(), 0.5);
          }
          ++steps;
        }
      }
    qInfo("%d retrievals decided alike", steps);
  }

  void copiesHoldingAnSmEqualCopiesOverEveryRow() {
    // The retrieval's gather and the row copy, by a few thread blocks taking the rows in turn
    // (QREAD_GATHER_SMS) and by thread blocks over every row: the same bytes everywhere.
    for (int trial = 0; trial < 12; ++trial) {
      const std::int64_t heads = pick(1, 4), row_bytes = 16 * pick(1, 40), n = pick(1, 6), blocks = 12;
      const std::int64_t capacity = n + pick(0, 2);
      std::vector<std::int64_t> ids(static_cast<std::size_t>(blocks)), slots(static_cast<std::size_t>(capacity));
      std::iota(ids.begin(), ids.end(), 0);
      std::shuffle(ids.begin(), ids.end(), rng_);
      std::iota(slots.begin(), slots.end(), 0);
      std::shuffle(slots.begin(), slots.end(), rng_);
      std::vector<std::int64_t> slot(static_cast<std::size_t>(n));
      std::vector<std::uint8_t> missed(static_cast<std::size_t>(n));
      for (std::size_t i = 0; i < std::size_t(n); ++i) {
        missed[i] = std::uint8_t(rng_() % 2);
        slot[i] = missed[i] && rng_() % 4 == 0 ? -1 : slots[i];
      }
      auto random_bytes = [&](std::int64_t count) {
        std::vector<char> bytes(static_cast<std::size_t>(count));
        for (auto& b : bytes) b = char(rng_());
        return bytes;
      };
      std::vector<std::vector<char>> host;
      std::vector<std::int64_t> host_k(static_cast<std::size_t>(blocks)), host_v(static_cast<std::size_t>(blocks));
      for (std::int64_t b = 0; b < 2 * blocks; ++b) host.push_back(random_bytes(heads * row_bytes));
      for (std::int64_t b = 0; b < blocks; ++b) {
        host_k[std::size_t(b)] = std::int64_t(host[std::size_t(2 * b)].data());
        host_v[std::size_t(b)] = std::int64_t(host[std::size_t(2 * b + 1)].data());
      }
      auto pending_k = random_bytes(heads * 3 * row_bytes), pending_v = random_bytes(heads * 3 * row_bytes);
      const PendingBlocks pending{pick(0, 8), pick(0, 2), pending_k.data(), pending_v.data(), 3 * row_bytes};
      const auto cache = random_bytes(2 * capacity * heads * row_bytes);
      const std::int64_t out_head = (n + pick(0, 1)) * row_bytes;
      const auto out = random_bytes(2 * heads * out_head);
      // Staged rows of two of the blocks (sometimes none); the gather counts the misses read there.
      const std::vector<std::int64_t> staged_ids{ids[std::size_t(pick(0, blocks - 1))], rng_() % 3 ? ids[0] : -1};
      const auto staged_rows = random_bytes(2 * 2 * heads * row_bytes);
      const StagedBlocks staged{staged_ids.data(), pick(0, 2), staged_rows.data(),
                                staged_rows.data() + 2 * heads * row_bytes};
      auto gather = [&](bool few) {
        auto c = cache, o = out;
        std::int64_t used = 0;
        const GatherArgs args{ids.data(), n, slot.data(), missed.data(), host_k.data(), host_v.data(), row_bytes,
                              pending, c.data(), c.data() + capacity * heads * row_bytes, o.data(),
                              o.data() + heads * out_head, heads, row_bytes, out_head, staged, &used};
        launch({few ? 3u : unsigned(n * heads * 2), 1, 1}, 64, [&] { gather_kernel(args); });
        return std::make_tuple(c, o, used);
      };
      QVERIFY(gather(true) == gather(false));
      {
        // The count against the gather code's own answer.
        std::int64_t want = 0;
        auto c = cache, o = out;
        const GatherArgs args{ids.data(), n, slot.data(), missed.data(), host_k.data(), host_v.data(), row_bytes,
                              pending, c.data(), c.data() + capacity * heads * row_bytes, o.data(),
                              o.data() + heads * out_head, heads, row_bytes, out_head, staged, nullptr};
        for (std::int64_t i = 0; i < n; ++i) want += gather_row(args, i, 0, false).staged;
        QCOMPARE(std::get<2>(gather(false)), want);
      }

      // Copies ahead: the stage kernel writes each uncached block's rows and its entry, -1 for the
      // others, and counts what it copied; by a thread block per row, and by 3 taking turns.
      for (bool few : {false, true}) {
        const std::int64_t m = pick(1, 4);
        std::vector<std::int64_t> wanted(ids.begin(), ids.begin() + m), block_slot(std::size_t(blocks), -1);
        wanted[std::size_t(pick(0, m - 1))] = rng_() % 2 ? -1 : wanted[0];
        if (wanted.size() > 1 && wanted[0] == wanted[1]) wanted[1] = -1;  // distinct
        for (auto& b : block_slot) b = rng_() % 3 == 0 ? 0 : -1;
        auto rows = random_bytes(2 * m * heads * row_bytes);
        const auto before = rows;
        std::vector<std::int64_t> stage_block(std::size_t(m), 77), counters(kBlockCacheCounters, 0);
        const StageArgs args{wanted.data(), m, block_slot.data(), host_k.data(), host_v.data(), row_bytes,
                             stage_block.data(), rows.data(), rows.data() + m * heads * row_bytes, heads, row_bytes};
        launch({few ? 3u : unsigned(m * heads * 2), 1, 1}, 64, [&] { stage_kernel(args, counters.data()); });
        std::int64_t copied = 0;
        for (std::int64_t i = 0; i < m; ++i) {
          const std::int64_t id = wanted[std::size_t(i)];
          const bool copy = id >= 0 && block_slot[std::size_t(id)] < 0;
          copied += copy;
          QCOMPARE(stage_block[std::size_t(i)], copy ? id : -1);
          for (int values = 0; values < 2; ++values) {
            const auto at = rows.begin() + (values * m + i) * heads * row_bytes;
            const auto old = before.begin() + (values * m + i) * heads * row_bytes;
            if (copy)
              QVERIFY(std::equal(at, at + heads * row_bytes, host[std::size_t(2 * id + values)].begin()));
            else
              QVERIFY(std::equal(at, at + heads * row_bytes, old));
          }
        }
        QCOMPARE(counters[kStaged], copied);
      }

      const std::int64_t rows = pick(1, 9), width = pick(1, 3000), src_pitch = width + pick(0, 40);
      const std::int64_t dst_pitch = width + pick(0, 40);
      const auto src = random_bytes(rows * src_pitch), dst = random_bytes(rows * dst_pitch + 7);
      auto by_rows = dst, few = dst;
      launch({unsigned(rows * 2), 1, 1}, 64,
             [&] { copy_rows_kernel(src.data(), src_pitch, by_rows.data(), dst_pitch, width, rows, 2); });
      launch({3, 1, 1}, 64, [&] { copy_rows_kernel(src.data(), src_pitch, few.data(), dst_pitch, width, rows, 1); });
      QVERIFY(few == by_rows);
      for (std::int64_t r = 0; r < rows; ++r)
        QVERIFY(std::equal(src.begin() + r * src_pitch, src.begin() + r * src_pitch + width, few.begin() + r * dst_pitch));
    }
  }

  void siluMulRoundsAsSiluThenMul() {
    // In place over the gate half of [rows, 2I + pad] rows: 16-byte rows and rows that are not;
    // each element SiLU(gate) rounded to bf16, times up, rounded again; the rest of the row kept.
    std::normal_distribution<float> normal(0.f, 4.f);
    for (bool packed : {true, false}) {
      const std::int64_t rows = pick(1, 9), inner = packed ? 8 * pick(1, 40) : pick(1, 300);
      const std::int64_t stride = 2 * inner + (packed ? 8 : pick(0, 5));
      std::vector<__nv_bfloat16> rows_data(static_cast<std::size_t>(rows * stride));
      for (auto& x : rows_data) x = __float2bfloat16(normal(rng_));
      auto want = rows_data;
      for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t c = 0; c < inner; ++c) {
          const float g = __bfloat162float(want[std::size_t(r * stride + c)]);
          const float u = __bfloat162float(want[std::size_t(r * stride + inner + c)]);
          const float silu = __bfloat162float(__float2bfloat16(g / (1.f + std::exp(-g))));
          want[std::size_t(r * stride + c)] = __float2bfloat16(silu * u);
        }
      __nv_bfloat16* gate = rows_data.data();
      const std::int64_t threads = packed ? inner / 8 : inner;
      const dim3 grid{unsigned((threads + kActivationThreads - 1) / kActivationThreads), unsigned(rows), 1};
      if (packed)
        launch(grid, kActivationThreads, [&] { silu_mul_kernel<__nv_bfloat16, 8>(gate, gate + inner, rows, inner, stride); });
      else
        launch(grid, kActivationThreads, [&] { silu_mul_kernel<__nv_bfloat16, 1>(gate, gate + inner, rows, inner, stride); });
      for (std::size_t i = 0; i < want.size(); ++i) QCOMPARE(rows_data[i].bits, want[i].bits);
    }
  }

  void mergeIntoStridedRows() {
    // Two parts (one [H, T, D], one [T, H, D]) merged into [T, H, D] rows by their log-sum-exps,
    // rows where a part or both saw nothing, against double arithmetic; rows after the output kept.
    const std::int64_t heads = 3, tokens = 11, dim = 40;
    std::normal_distribution<float> normal;
    std::vector<float> a(static_cast<std::size_t>(heads * tokens * dim)), b(a.size()), lse_a(static_cast<std::size_t>(heads * tokens)),
        lse_b(lse_a.size());
    for (auto* v : {&a, &b, &lse_a, &lse_b})
      for (auto& x : *v) x = normal(rng_);
    lse_a[4] = -INFINITY;
    lse_b[6] = -INFINITY;
    lse_a[7] = lse_b[7] = -INFINITY;
    std::vector<float> out(std::size_t(tokens * heads * dim + 5), 9.f), lse(lse_a.size());
    launch({unsigned((heads * tokens + kMergeRows - 1) / kMergeRows), 1, 1}, 32 * kMergeRows, [&] {
      merge_kernel<float>(a.data(), tokens * dim, dim, lse_a.data(), b.data(), dim, heads * dim, lse_b.data(),
                          out.data(), dim, heads * dim, lse.data(), heads, tokens, dim);
    });
    double worst = 0;
    for (std::int64_t h = 0; h < heads; ++h)
      for (std::int64_t t = 0; t < tokens; ++t) {
        const double x = lse_a[std::size_t(h * tokens + t)], y = lse_b[std::size_t(h * tokens + t)];
        const double m = std::max(x, y);
        const double total = std::isinf(m) ? -INFINITY : m + std::log(std::exp(x - m) + std::exp(y - m));
        const double wa = std::isinf(m) ? 0 : std::exp(x - total), wb = std::isinf(m) ? 0 : std::exp(y - total);
        QCOMPARE(std::isinf(lse[std::size_t(h * tokens + t)]), std::isinf(total));
        for (std::int64_t d = 0; d < dim; ++d) {
          const double e = wa * a[std::size_t((h * tokens + t) * dim + d)] + wb * b[std::size_t((t * heads + h) * dim + d)];
          worst = std::max(worst, std::abs(e - out[std::size_t((t * heads + h) * dim + d)]));
        }
      }
    qInfo("merge into [T, H, D] rows: max |diff| %.3g", worst);
    QVERIFY(worst < 1e-5);
    QVERIFY(std::all_of(out.end() - 5, out.end(), [](float x) { return x == 9.f; }));
  }
};

QTEST_APPLESS_MAIN(TestEmulatedKernels)
#include "test_emulated_kernels.moc"
