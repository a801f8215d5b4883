// The block store's gather code (gather_row in qread/kernels/block_cache.hpp), the lines the CUDA
// kernel runs, run here for every row on fresh random layouts: a retrieval's gather puts every
// block's rows in its output, and a miss's rows in its new cache slot as well, from whichever
// source holds them: pending blocks, then staged rows, then host memory. A source that must not
// be read holds garbage. And the stage code (stage_row): what it copies ahead is what the cache
// lacks.
#include "qread/kernels/block_cache.hpp"
#include "test_support.hpp"

#include <QtTest>

#include <algorithm>
#include <numeric>
#include <random>
#include <vector>

namespace {

// 16 bytes: the unit the kernel copies and the test marks.
struct Word16 {
  std::uint32_t x, y, z, w;
};

// Word w of block id's head h (keys or values): distinct for every (id, h, values, w).
Word16 word_of(std::int64_t id, std::int64_t h, bool values, std::int64_t w) {
  return {std::uint32_t(id), std::uint32_t(h), values ? 1u : 0u, std::uint32_t(w)};
}
constexpr Word16 kGarbage{0xdeadbeefu, 0xdeadbeefu, 0xdeadbeefu, 0xdeadbeefu};
bool same(const Word16& a, const Word16& b) {
  return a.x == b.x && a.y == b.y && a.z == b.z && a.w == b.w;
}

// Device-like memory: 16-byte words, addressed in bytes.
struct Memory {
  std::vector<Word16> words;
  explicit Memory(std::int64_t n) : words(static_cast<std::size_t>(n), kGarbage) {}
  char* at(std::int64_t byte) { return reinterpret_cast<char*>(words.data()) + byte; }
  // Writes block id's head h (row_words words) at `byte`.
  void put_row(std::int64_t byte, std::int64_t id, std::int64_t h, bool values,
               std::int64_t row_words) {
    for (std::int64_t w = 0; w < row_words; ++w)
      words[static_cast<std::size_t>(byte / 16 + w)] = word_of(id, h, values, w);
  }
  bool holds_row(std::int64_t byte, std::int64_t id, std::int64_t h, bool values,
                 std::int64_t row_words) const {
    for (std::int64_t w = 0; w < row_words; ++w)
      if (!same(words[static_cast<std::size_t>(byte / 16 + w)], word_of(id, h, values, w)))
        return false;
    return true;
  }
  bool holds_garbage(std::int64_t byte, std::int64_t row_words) const {
    for (std::int64_t w = 0; w < row_words; ++w)
      if (!same(words[static_cast<std::size_t>(byte / 16 + w)], kGarbage)) return false;
    return true;
  }
};

// Host memory of `blocks` blocks: each block's keys and values at addresses of their own (the
// tables k and v), heads head_bytes apart (row_words words and `pad` bytes). Blocks for which
// `present` says no hold garbage.
struct HostBlocks {
  std::int64_t head_bytes;
  Memory memory;
  std::vector<std::int64_t> k, v;
  template <typename Present>
  HostBlocks(std::int64_t blocks, std::int64_t heads, std::int64_t row_words, std::int64_t pad,
             Present present)
      : head_bytes(16 * row_words + pad), memory(2 * blocks * heads * head_bytes / 16) {
    for (std::int64_t id = 0; id < blocks; ++id)
      for (int values = 0; values < 2; ++values) {
        const std::int64_t base = (2 * id + values) * heads * head_bytes;
        (values ? v : k).push_back(std::int64_t(reinterpret_cast<std::intptr_t>(memory.at(base))));
        if (present(id))
          for (std::int64_t h = 0; h < heads; ++h)
            memory.put_row(base + h * head_bytes, id, h, values, row_words);
      }
  }
};

// What the kernel does with each row the gather code describes: copy it, and also into `also`.
// Returns how many blocks' rows came from staged rows.
int copy_rows(const qread::kernels::GatherArgs& args, std::int64_t row_words) {
  int staged = 0;
  for (std::int64_t i = 0; i < args.n; ++i)
    for (std::int64_t h = 0; h < args.heads; ++h)
      for (bool values : {false, true}) {
        const auto row = qread::kernels::gather_row(args, i, h, values);
        staged += row.staged && h == 0 && !values;
        std::copy_n(reinterpret_cast<const Word16*>(row.src), row_words, reinterpret_cast<Word16*>(row.dst));
        if (row.also)
          std::copy_n(reinterpret_cast<const Word16*>(row.src), row_words, reinterpret_cast<Word16*>(row.also));
      }
  return staged;
}

std::vector<std::int64_t> distinct(std::mt19937_64& rng, std::int64_t below, std::int64_t count) {
  std::vector<std::int64_t> all(static_cast<std::size_t>(below));
  std::iota(all.begin(), all.end(), 0);
  std::shuffle(all.begin(), all.end(), rng);
  all.resize(static_cast<std::size_t>(count));
  return all;
}

}  // namespace

class TestBlockCopy : public QObject {
  Q_OBJECT
  std::mt19937_64 rng_{qread::test::random_seed()};
  std::int64_t pick(std::int64_t lo, std::int64_t hi) {
    return lo + std::int64_t(rng_() % std::uint64_t(hi - lo + 1));
  }

 private Q_SLOTS:
  void gatherTakesEachRowFromItsSource() {
    int pending_reads = 0, staged_reads = 0, host_reads = 0, no_slot = 0;
    for (int trial = 0; trial < 300; ++trial) {
      const std::int64_t heads = pick(1, 4), row_words = pick(1, 5), row_bytes = 16 * row_words,
                         blocks = 12;
      const std::int64_t n = pick(1, 6), capacity = n + pick(0, 2);
      const auto ids = distinct(rng_, blocks, n);
      std::vector<std::uint8_t> missed(static_cast<std::size_t>(n));
      for (auto& m : missed) m = std::uint8_t(rng_() % 2);
      // Distinct slots; a miss sometimes has none (more blocks than the cache holds).
      const auto slots = distinct(rng_, capacity, n);
      std::vector<std::int64_t> slot(static_cast<std::size_t>(n));
      for (std::int64_t i = 0; i < n; ++i)
        slot[i] = missed[i] && rng_() % 5 == 0 ? -1 : slots[static_cast<std::size_t>(i)];
      const std::int64_t pending_count = pick(0, 3),
                         pending_first = pick(0, blocks - pending_count);
      const auto is_pending = [&](std::int64_t id) {
        return id >= pending_first && id < pending_first + pending_count;
      };
      // Staged rows: random blocks (some asked for, some not, some pending: pending blocks are
      // read from the device first), a few entries empty (-1).
      const std::int64_t stage_count = pick(0, 4);
      auto staged_ids = distinct(rng_, blocks, stage_count);
      for (auto& id : staged_ids)
        if (rng_() % 6 == 0) id = -1;
      const auto is_staged = [&](std::int64_t id) {
        return std::find(staged_ids.begin(), staged_ids.end(), id) != staged_ids.end();
      };
      Memory stage_k(stage_count * heads * row_words + 1), stage_v(stage_count * heads * row_words + 1);
      for (std::int64_t j = 0; j < stage_count; ++j)
        if (const auto id = staged_ids[static_cast<std::size_t>(j)]; id >= 0 && !is_pending(id))
          for (std::int64_t h = 0; h < heads; ++h) {
            stage_k.put_row((j * heads + h) * row_bytes, id, h, false, row_words);
            stage_v.put_row((j * heads + h) * row_bytes, id, h, true, row_words);
          }
      // Pending blocks are not in host memory yet, and staged blocks must be read from their
      // staged rows: garbage there.
      const HostBlocks host(blocks, heads, row_words, 16 * pick(0, 2),
                            [&](std::int64_t id) { return !is_pending(id) && !is_staged(id); });
      const std::int64_t host_head_bytes = host.head_bytes;
      const std::int64_t pending_head_bytes = pending_count * row_bytes + 16 * pick(0, 2);
      Memory pending_k(heads * pending_head_bytes / 16 + 1),
          pending_v(heads * pending_head_bytes / 16 + 1);
      for (std::int64_t j = 0; j < pending_count; ++j)
        for (std::int64_t h = 0; h < heads; ++h) {
          pending_k.put_row(h * pending_head_bytes + j * row_bytes, pending_first + j, h, false,
                            row_words);
          pending_v.put_row(h * pending_head_bytes + j * row_bytes, pending_first + j, h, true,
                            row_words);
        }
      // The cache: hits hold their block, every other slot garbage.
      Memory cache_k(capacity * heads * row_words), cache_v(capacity * heads * row_words);
      for (std::int64_t i = 0; i < n; ++i)
        if (!missed[i])
          for (std::int64_t h = 0; h < heads; ++h) {
            cache_k.put_row((slot[i] * heads + h) * row_bytes, ids[i], h, false, row_words);
            cache_v.put_row((slot[i] * heads + h) * row_bytes, ids[i], h, true, row_words);
          }
      // Heads of the output one after another, or further apart (a view into a larger buffer).
      const std::int64_t out_head_bytes = (n + pick(0, 2)) * row_bytes;
      Memory out_k(heads * out_head_bytes / 16), out_v(heads * out_head_bytes / 16);

      const qread::kernels::GatherArgs args{
          ids.data(),
          n,
          slot.data(),
          missed.data(),
          host.k.data(),
          host.v.data(),
          host_head_bytes,
          {pending_first, pending_count, pending_k.at(0), pending_v.at(0), pending_head_bytes},
          cache_k.at(0),
          cache_v.at(0),
          out_k.at(0),
          out_v.at(0),
          heads,
          row_bytes,
          out_head_bytes,
          {staged_ids.data(), stage_count, stage_k.at(0), stage_v.at(0)}};
      const int staged_rows = copy_rows(args, row_words);
      int staged_misses = 0;

      for (std::int64_t i = 0; i < n; ++i) {
        const std::int64_t id = ids[static_cast<std::size_t>(i)];
        if (missed[i]) {
          if (is_pending(id))
            ++pending_reads;
          else if (is_staged(id))
            ++staged_misses;
          else
            ++host_reads;
          no_slot += slot[i] < 0;
        }
        for (std::int64_t h = 0; h < heads; ++h) {
          QVERIFY2(out_k.holds_row(h * out_head_bytes + i * row_bytes, id, h, false, row_words),
                   qPrintable(QString("keys of %1").arg(id)));
          QVERIFY2(out_v.holds_row(h * out_head_bytes + i * row_bytes, id, h, true, row_words),
                   qPrintable(QString("values of %1").arg(id)));
          if (slot[i] >= 0) {
            QVERIFY(cache_k.holds_row((slot[i] * heads + h) * row_bytes, id, h, false, row_words));
            QVERIFY(cache_v.holds_row((slot[i] * heads + h) * row_bytes, id, h, true, row_words));
          }
        }
      }
      QCOMPARE(staged_rows, staged_misses);
      staged_reads += staged_misses;
      // The output's rows after each head's blocks are left alone.
      for (std::int64_t h = 0; h < heads; ++h)
        QVERIFY(out_k.holds_garbage(h * out_head_bytes + n * row_bytes, out_head_bytes / 16 - n * row_words) &&
                out_v.holds_garbage(h * out_head_bytes + n * row_bytes, out_head_bytes / 16 - n * row_words));
      // Slots that no retrieved block uses are left alone.
      for (std::int64_t s = 0; s < capacity; ++s)
        if (std::find(slot.begin(), slot.end(), s) == slot.end())
          QVERIFY(cache_k.holds_garbage(s * heads * row_bytes, heads * row_words) &&
                  cache_v.holds_garbage(s * heads * row_bytes, heads * row_words));
    }
    qInfo("misses read from pending blocks %d, staged rows %d, host memory %d; %d without a slot", pending_reads,
          staged_reads, host_reads, no_slot);
    QVERIFY(pending_reads > 20 && staged_reads > 20 && host_reads > 100 && no_slot > 10);
  }

  void stageCopiesWhatTheCacheLacks() {
    // stage_row for every row: a block not in the cache is copied from host memory into its
    // staged row; a cached block or a negative id is not copied, and its row left alone.
    int copied = 0, skipped = 0;
    for (int trial = 0; trial < 200; ++trial) {
      const std::int64_t heads = pick(1, 4), row_words = pick(1, 5), row_bytes = 16 * row_words, blocks = 10;
      const std::int64_t n = pick(1, 6);
      auto ids = distinct(rng_, blocks, n);
      for (auto& id : ids)
        if (rng_() % 8 == 0) id = -1;
      std::vector<std::int64_t> block_slot(static_cast<std::size_t>(blocks));
      for (auto& s : block_slot) s = rng_() % 3 == 0 ? std::int64_t(rng_() % 4) : -1;
      const HostBlocks host(blocks, heads, row_words, 16 * pick(0, 2), [](std::int64_t) { return true; });
      Memory stage_k(n * heads * row_words), stage_v(n * heads * row_words);
      std::vector<std::int64_t> stage_block(static_cast<std::size_t>(n), 99);
      const qread::kernels::StageArgs args{ids.data(), n, block_slot.data(), host.k.data(), host.v.data(),
                                           host.head_bytes, stage_block.data(), stage_k.at(0), stage_v.at(0),
                                           heads, row_bytes};
      for (std::int64_t i = 0; i < n; ++i) {
        const std::int64_t id = ids[static_cast<std::size_t>(i)];
        const bool wanted = id >= 0 && block_slot[static_cast<std::size_t>(id)] < 0;
        (wanted ? copied : skipped) += 1;
        for (std::int64_t h = 0; h < heads; ++h)
          for (bool values : {false, true}) {
            const auto row = qread::kernels::stage_row(args, i, h, values);
            QCOMPARE(row.src != nullptr, wanted);
            QVERIFY(row.dst == (values ? stage_v : stage_k).at((i * heads + h) * row_bytes));
            if (row.src) std::copy_n(reinterpret_cast<const Word16*>(row.src), row_words, reinterpret_cast<Word16*>(row.dst));
          }
        for (std::int64_t h = 0; h < heads; ++h) {
          const std::int64_t at = (i * heads + h) * row_bytes;
          QVERIFY(wanted ? stage_k.holds_row(at, id, h, false, row_words) && stage_v.holds_row(at, id, h, true, row_words)
                         : stage_k.holds_garbage(at, row_words) && stage_v.holds_garbage(at, row_words));
        }
      }
    }
    qInfo("%d blocks copied ahead, %d not", copied, skipped);
    QVERIFY(copied > 100 && skipped > 50);
  }
};

QTEST_APPLESS_MAIN(TestBlockCopy)
#include "test_block_copy.moc"
