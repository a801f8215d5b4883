// The memory check before reading (qread/memory_budget.hpp): the floor it computes for each mode
// against what the context memories really hold after random prompts (LanguageModel::
// context_bytes, the tensors' storages), and check_memory_room's verdicts and suggested max_len
// against the floor on random rooms.
#include "qread/config.hpp"
#include "qread/error.hpp"
#include "qread/language_model.hpp"
#include "qread/memory_budget.hpp"
#include "test_support.hpp"

#include <QtTest>

#include <random>
#include <string>

namespace {

const qread::MemoryMode kModes[] = {qread::MemoryMode::origin,   qread::MemoryMode::stream_llm,
                                    qread::MemoryMode::infinite_lm, qread::MemoryMode::inf_llm,
                                    qread::MemoryMode::qllm,     qread::MemoryMode::quest};

// Small settings, so that a few thousand tokens fill many blocks.
qread::RunConfig small_config(qread::MemoryMode mode) {
  auto config = qread::default_config(mode);
  qread::apply_overrides(config, {"n_init=8", "n_local=64", "block_size=16", "exc_block_size=32", "topk=2",
                                  "repr_topk=2", "max_cached_block=4"});
  if (mode == qread::MemoryMode::quest) qread::apply_overrides(config, {"page_size=8", "token_budget=32"});
  return config;
}

}  // namespace

class TestMemoryBudget : public QObject {
  Q_OBJECT
  std::mt19937_64 rng_{qread::test::random_seed()};

 private Q_SLOTS:
  // What each mode holds after a random prompt read in random chunks is at least the floor
  // (the check never refuses what would have fit), and the floor is most of it once the
  // document outgrows the working buffers (it is not a token gesture).
  void floorIsBelowWhatEachModeHolds() {
    auto model = qread::LanguageModel::random("tiny", {"cpu", "float32", {}, {}}, rng_());
    const auto& summary = model->summary();
    for (const auto mode : kModes) {
      const auto config = small_config(mode);
      for (int round = 0; round < 3; ++round) {
        const std::int64_t tokens = 1 + std::int64_t(rng_() % 3000), chunk = 16 + std::int64_t(rng_() % 300);
        std::vector<qread::TokenId> ids(static_cast<std::size_t>(tokens));
        for (auto& id : ids) id = qread::TokenId(rng_() % std::uint64_t(summary.vocab_size));
        model->configure_memory(config.attention, std::nullopt);
        model->feed(ids, chunk);
        const auto held = model->context_bytes();
        const auto floor = qread::context_memory_floor(summary, config.attention, tokens);
        const auto what = QString("%1, %2 tokens in chunks of %3: floor %4, held %5")
                              .arg(qread::mode_name(mode))
                              .arg(tokens)
                              .arg(chunk)
                              .arg(floor.host)
                              .arg(held.host)
                              .toStdString();
        QVERIFY2(held.device == 0 && floor.device == 0, what.c_str());  // a model on the CPU
        QVERIFY2(floor.host <= held.host, what.c_str());
        QVERIFY2(floor.host > 0, what.c_str());
        // Beyond 2000 tokens the keys and values dominate: the windows, chunk buffers and the
        // arenas' last, partly filled 64 blocks come on top; full attention doubles its buffer.
        if (tokens > 2000) QVERIFY2(4 * floor.host >= held.host, what.c_str());
      }
    }
  }

  // check_memory_room refuses exactly when the floor does not fit in what the room leaves, on
  // the host (a CPU model) or on the GPU (a CUDA model's device part), and its max_len is the
  // most tokens that fit.
  void checkRefusesWhatCannotFit() {
    qread::ModelSummary summary;
    summary.layers = 32;
    summary.heads = 32;
    summary.kv_heads = 8;
    summary.head_dim = 128;
    const std::int64_t gib = 1LL << 30;
    for (int round = 0; round < 300; ++round) {
      const bool cuda = rng_() % 2 == 0;
      summary.device = cuda ? "cuda:0" : "cpu";
      summary.dtype = cuda ? "bfloat16" : "float32";
      const auto mode = kModes[rng_() % std::size(kModes)];
      const auto config = qread::default_config(mode).attention;
      const std::int64_t tokens = 1 + std::int64_t(rng_() % 2'000'000);
      qread::MemoryRoom room;
      room.host_total = std::int64_t(rng_() % std::uint64_t(200 * gib));
      room.host_used = std::int64_t(rng_() % std::uint64_t(20 * gib));
      room.host_available = std::int64_t(rng_() % std::uint64_t(200 * gib));
      if (cuda) {
        room.device_total = std::int64_t(rng_() % std::uint64_t(80 * gib));
        room.device_used = std::int64_t(rng_() % std::uint64_t(20 * gib));
        room.device_available = std::int64_t(rng_() % std::uint64_t(80 * gib));
      }
      auto fits = [&](std::int64_t n) {
        const auto f = qread::context_memory_floor(summary, config, n);
        return f.host <= std::max<std::int64_t>(room.host_total - room.host_used, 0) &&
               f.device <= std::max<std::int64_t>(room.device_total - room.device_used, 0);
      };
      const auto need = qread::context_memory_floor(summary, config, tokens);
      if (!cuda) QCOMPARE(need.device, std::int64_t(0));
      std::string message;
      std::vector<std::string> notes;
      try {
        notes = qread::check_memory_room(summary, config, tokens, room, "doc.txt");
      } catch (const qread::InputError& e) {
        message = e.what();
      }
      const auto what = QString("%1 on %2, %3 tokens: %4")
                            .arg(qread::mode_name(mode))
                            .arg(summary.device.c_str())
                            .arg(tokens)
                            .arg(message.c_str())
                            .toStdString();
      QVERIFY2(message.empty() == fits(tokens), what.c_str());
      if (message.empty()) {
        // Notes where the floor is above what is free now.
        const bool host_note = need.host > room.host_available, device_note = cuda && need.device > room.device_available;
        QVERIFY2(notes.size() == std::size_t(host_note) + std::size_t(device_note), what.c_str());
        continue;
      }
      QVERIFY2(message.rfind("doc.txt: ", 0) == 0, what.c_str());
      QVERIFY2(message.find(std::string(qread::mode_name(mode)) + " mode") != std::string::npos, what.c_str());
      const auto at = message.find("max_len=");
      if (at == std::string::npos) {
        QVERIFY2(!fits(1), what.c_str());
        continue;
      }
      const std::int64_t max_len = std::stoll(message.substr(at + 8));
      QVERIFY2(max_len >= 1 && max_len < tokens && fits(max_len) && !fits(max_len + 1), what.c_str());
    }
  }

  void badHostMemorySetting() {
    for (const char* bad : {"lots", "-5G", "12X", "0"}) {
      qputenv("QREAD_HOST_MEMORY", bad);
      QVERIFY_THROWS_EXCEPTION(qread::InputError, qread::memory_room("cpu"));
    }
    qputenv("QREAD_HOST_MEMORY", "1.5G");
    QCOMPARE(qread::memory_room("cpu").host_total, std::int64_t(1.5 * double(1LL << 30)));
    qputenv("QREAD_HOST_MEMORY", "123456789");
    QCOMPARE(qread::memory_room("cpu").host_total, std::int64_t(123456789));
    qunsetenv("QREAD_HOST_MEMORY");
    const auto room = qread::memory_room("cpu");
    QVERIFY(room.host_total > 0 && room.host_used > 0 && room.host_used < room.host_total);
    QCOMPARE(room.device_total, std::int64_t(0));
  }
};

QTEST_GUILESS_MAIN(TestMemoryBudget)
#include "test_memory_budget.moc"
