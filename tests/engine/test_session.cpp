// The session API (qread/session.hpp): hit maps against a brute-force count, answers through
// JSON and back, and Reader::ask on a tiny model: streamed text equals the answer, reading
// progress, cancel while reading and while answering, a document too long for the memory refused.
#include "qread/error.hpp"
#include "qread/eval.hpp"
#include "qread/memory_budget.hpp"
#include "qread/model_maker.hpp"
#include "qread/prompt.hpp"
#include "qread/session.hpp"
#include "test_support.hpp"

#include <QTemporaryDir>
#include <QtTest>

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <random>

namespace {

// A document of `pages` pages of `page_chars` bytes each ("p<page> " repeated), separated as PDF
// pages are.
qread::Document paged_document(int pages, std::size_t page_chars) {
  std::string text;
  std::vector<qread::Page> list;
  for (int p = 1; p <= pages; ++p) {
    if (p > 1) text += qread::Document::kPageSeparator;
    qread::Page page{p, {}, text.size(), 0};
    std::string word = std::to_string(p);
    word.insert(word.begin(), 'p');
    word.push_back(' ');
    while (text.size() - page.begin + word.size() <= page_chars) text += word;
    page.end = text.size();
    list.push_back(page);
  }
  return qread::Document("book.pdf", qread::DocumentKind::pdf, text, list);
}

}  // namespace

class TestSession : public QObject {
  Q_OBJECT
  std::mt19937_64 rng_{qread::test::random_seed()};
  QTemporaryDir tmp_;
  std::filesystem::path model_;

 private Q_SLOTS:
  void initTestCase() {
    QVERIFY(tmp_.isValid());
    qread::MakeModelOptions o;
    o.tokenizer = "bpe";
    o.corpus = QREAD_SOURCE_DIR "/tests/tokenizer/data/corpus.txt";
    o.layers = 3;
    o.seed = rng_();
    model_ = tmp_.filePath("model").toStdString();
    qread::make_model(model_, o);
  }

  // make_hit_map against counting by hand, on random reports over a random prompt layout.
  void hitMapCountsEveryRetrieval() {
    for (int round = 0; round < 20; ++round) {
      const auto document = paged_document(2 + int(rng_() % 6), 40 + rng_() % 200);
      const std::int64_t block = 4 + std::int64_t(rng_() % 8), layers = 1 + std::int64_t(rng_() % 4);
      // Prompt: a template head of `head` tokens, the document's bytes in tokens of 1-5 bytes, a tail.
      qread::DocumentPrompt prompt;
      const std::int64_t head = std::int64_t(rng_() % 10);
      prompt.text_offsets.assign(std::size_t(head), -1);
      for (std::size_t at = 0; at < document.text().size(); at += 1 + rng_() % 5)
        prompt.text_offsets.push_back(std::int64_t(at));
      for (int i = 0; i < 7; ++i) prompt.text_offsets.push_back(-1);
      const auto n = std::int64_t(prompt.text_offsets.size());
      qread::MemoryReport report;
      report.block_size = block;
      for (std::int64_t start = head; start + block <= n - 7; start += block) report.block_starts.push_back(start);
      if (report.block_starts.empty()) continue;
      const std::int64_t answer_from = n - 1;
      // Expected counts, by (layer, block start).
      std::map<std::pair<std::int64_t, std::int64_t>, std::int64_t> read, answer;
      for (int r = 0; r < 50; ++r) {
        qread::BlockRetrieval retrieval;
        retrieval.layer = std::int64_t(rng_() % std::uint64_t(layers));
        retrieval.query_start = rng_() % 4 == 0 ? answer_from + std::int64_t(rng_() % 3) : std::int64_t(rng_() % std::uint64_t(answer_from));
        for (int k = 0; k < 3; ++k) {
          const auto start = report.block_starts[rng_() % report.block_starts.size()];
          retrieval.block_starts.push_back(start);
          ++(retrieval.query_start >= answer_from ? answer : read)[{retrieval.layer, start}];
        }
        report.retrievals.push_back(retrieval);
      }
      const auto map = qread::make_hit_map(report, layers, prompt, document, answer_from);
      QCOMPARE(map.layers, layers);
      QCOMPARE(map.blocks.size(), report.block_starts.size());
      std::map<int, std::int64_t> expected_pages;
      for (std::size_t b = 0; b < map.blocks.size(); ++b) {
        const auto& mb = map.blocks[b];
        QCOMPARE(mb.token_begin, report.block_starts[b]);
        QCOMPARE(mb.token_end, mb.token_begin + block);
        // Its text starts at its first token's offset; its pages are those its text overlaps.
        QCOMPARE(std::int64_t(mb.text_begin), prompt.text_offsets[std::size_t(mb.token_begin)]);
        int first = 0, last = 0;
        for (const auto& page : document.pages())
          if (page.begin < mb.text_end && page.end > mb.text_begin) {
            if (first == 0) first = page.number;
            last = page.number;
          }
        if (first == 0) first = last = document.page_of_offset(mb.text_begin);  // only separator bytes
        QCOMPARE(mb.pages.first, first);
        QCOMPARE(mb.pages.last, last);
        for (std::int64_t layer = 0; layer < layers; ++layer) {
          const auto a = answer.count({layer, mb.token_begin}) ? answer[{layer, mb.token_begin}] : 0;
          const auto r = read.count({layer, mb.token_begin}) ? read[{layer, mb.token_begin}] : 0;
          QCOMPARE(map.answer(layer, b), a);
          QCOMPARE(map.read(layer, b), r);
          expected_pages[mb.pages.first] += a;
        }
      }
      // Cited pages: the answer's retrievals per first page, most first, none without retrievals.
      const auto cited = qread::cited_pages(map);
      for (std::size_t i = 0; i < cited.size(); ++i) {
        QCOMPARE(cited[i].retrievals, expected_pages[cited[i].page]);
        QVERIFY(cited[i].retrievals > 0);
        if (i > 0) QVERIFY(cited[i - 1].retrievals >= cited[i].retrievals);
      }
      QCOMPARE(std::int64_t(cited.size()),
               std::int64_t(std::count_if(expected_pages.begin(), expected_pages.end(), [](auto& p) { return p.second > 0; })));
    }
  }

  void answerSurvivesJson() {
    const auto document = paged_document(6, 400);
    qread::Reader reader(model_);
    qread::AskOptions options;
    options.config = qread::default_config(qread::MemoryMode::qllm);
    qread::apply_overrides(options.config, {"n_local=64", "exc_block_size=32", "block_size=16", "n_init=8",
                                            "chunk_size=128", "topk=2"});
    options.max_new_tokens = 5;
    std::string streamed;
    std::vector<std::int64_t> progress;
    qread::AskEvents events;
    events.text = [&](std::string_view piece) { streamed += piece; };
    events.reading = [&](std::int64_t done, std::int64_t) { progress.push_back(done); };
    const auto answer = reader.ask(document, "What is on page 4?", options, events);
    QCOMPARE(streamed, answer.text);
    QVERIFY(answer.stop_reason == "eos" || answer.stop_reason == "max_new_tokens");
    // The random model may end its answer at once (seed 5032: the first token is its EOS).
    QVERIFY2(answer.stop_reason == "eos" ? answer.answer_tokens < 5 : answer.answer_tokens == 5,
             qPrintable(QString("%1 tokens, stop %2").arg(answer.answer_tokens).arg(QString::fromStdString(answer.stop_reason))));
    QCOMPARE(progress.back(), answer.prompt_tokens);
    QVERIFY(std::is_sorted(progress.begin(), progress.end()));
    // Reported after every layer of every chunk: more often than once per chunk.
    QVERIFY(std::int64_t(progress.size()) > (answer.prompt_tokens - 1) / 128);
    QVERIFY(!answer.hit_map.empty());
    QCOMPARE(answer.hit_map.layers, 3);
    QCOMPARE(answer.document_pages, 6);
    QVERIFY(answer.question_span.has_value());
    QCOMPARE(answer.mode, std::string("qllm"));

    const auto back = qread::answer_from_json(qread::to_json(answer));
    QCOMPARE(back.text, answer.text);
    QCOMPARE(back.question, answer.question);
    QCOMPARE(back.config_yaml, answer.config_yaml);
    QCOMPARE(back.prompt_tokens, answer.prompt_tokens);
    QCOMPARE(back.prefill_seconds, answer.prefill_seconds);
    QCOMPARE(back.prefill_progress, answer.prefill_progress);
    QCOMPARE(back.cited_pages, answer.cited_pages);
    QCOMPARE(back.hit_map.answer_hits, answer.hit_map.answer_hits);
    QCOMPARE(back.hit_map.read_hits, answer.hit_map.read_hits);
    QCOMPARE(back.hit_map.blocks.size(), answer.hit_map.blocks.size());
    for (std::size_t b = 0; b < back.hit_map.blocks.size(); ++b)
      QVERIFY(back.hit_map.blocks[b].pages == answer.hit_map.blocks[b].pages);
    QCOMPARE(back.question_span->begin, answer.question_span->begin);
    const auto list = qread::answers_from_json(qread::to_json(std::vector<qread::Answer>{answer, back}));
    QCOMPARE(list.size(), std::size_t(2));
    QCOMPARE(list[1].text, answer.text);
  }

  void badJsonNamesTheField_data() {
    QTest::addColumn<QString>("json");
    QTest::addColumn<QString>("named");
    QTest::addRow("not json") << "{" << "not valid JSON";
    QTest::addRow("not an object") << "[1]" << "object";
    QTest::addRow("answer type") << R"({"answer": 3})" << "answer";
    QTest::addRow("timings type") << R"({"timings": {"prefill_seconds": "slow"}})" << "prefill_seconds";
    QTest::addRow("hit counts") << R"({"hit_map": {"layers": 2, "blocks": [{"tokens": [0, 4], "pages": [1, 1], "text": [0, 9]}], "answer_hits": [1], "read_hits": [0, 0]}})"
                                << "hit counts";
    QTest::addRow("span") << R"({"question_span": [1, 2, 3]})" << "question_span";
  }
  void badJsonNamesTheField() {
    QFETCH(QString, json);
    QFETCH(QString, named);
    try {
      (void)qread::answer_from_json(json.toStdString());
      QFAIL("no error");
    } catch (const qread::InputError& e) {
      QVERIFY2(QString::fromUtf8(e.what()).contains(named), e.what());
    }
  }

  // A document whose keys and values cannot fit in the host memory qread may use
  // (QREAD_HOST_MEMORY) is refused before anything is read, with a max_len that fits; in a
  // comparison the refused mode is an error answer and the next, with that max_len, reads it.
  void askAndCompareRefuseADocumentTooLongForTheMachine() {
    const auto document = paged_document(60, 600);  // about 26K tokens
    qread::Reader reader(model_);
    qread::AskOptions options;
    options.config = qread::default_config(qread::MemoryMode::origin);
    options.max_new_tokens = 4;
    const auto per_token = qread::context_memory_floor(reader.summary(), options.config.attention, 1).host;
    // Room for about 13K tokens' keys and values (10 MB) beside what the process holds now,
    // which moves by a megabyte or two meanwhile.
    const auto limit = qread::memory_room("cpu").host_used + 13000 * per_token;
    qputenv("QREAD_HOST_MEMORY", QByteArray::number(qlonglong(limit)));
    // Unset however the test ends: a failed check here must not refuse the next tests' reads.
    const std::unique_ptr<void, void (*)(void*)> unset(reinterpret_cast<void*>(1),
                                                       [](void*) { qunsetenv("QREAD_HOST_MEMORY"); });
    qread::AskEvents events;
    bool read_any = false;
    events.reading = [&](std::int64_t, std::int64_t) { read_any = true; };
    std::string message;
    try {
      reader.ask(document, "What is on page 9?", options, events);
    } catch (const qread::InputError& e) {
      message = e.what();
    }
    QVERIFY2(!message.empty(), "a document too long for the memory was read");
    QVERIFY(!read_any);
    QVERIFY2(message.rfind("book.pdf: ", 0) == 0 && message.find("origin mode") != std::string::npos &&
                 message.find("stream-llm or infinite-lm") != std::string::npos,
             message.c_str());
    const auto at = message.find("max_len=");
    QVERIFY2(at != std::string::npos, message.c_str());
    const auto max_len = std::stoll(message.substr(at + 8));
    // About 13K; the process's resident set moves by a megabyte or so either way meanwhile.
    QVERIFY2(max_len > 8000 && max_len < 15000, message.c_str());
    // Compared with that max_len: the mode without it is an error answer, and the one with it
    // reads the document, the prompt cut to it (a margin for the process's growth meanwhile).
    qputenv("QREAD_HOST_MEMORY", QByteArray::number(qlonglong(limit + 5000 * per_token)));
    auto cut = options.config;
    cut.max_len = max_len;
    qread::eval::CompareEvents compare_events;
    compare_events.reading = events.reading;
    const auto answers = qread::eval::compare_modes(reader, document, "What is on page 9?", {options.config, cut},
                                                    options.max_new_tokens, compare_events);
    qunsetenv("QREAD_HOST_MEMORY");
    QCOMPARE(answers.size(), std::size_t(2));
    QCOMPARE(answers[0].stop_reason, std::string("error"));
    QVERIFY2(answers[0].error.find("max_len=") != std::string::npos, answers[0].error.c_str());
    QCOMPARE(answers[0].mode, std::string("origin"));
    QVERIFY2(answers[1].error.empty(), answers[1].error.c_str());
    QVERIFY(read_any);
    QVERIFY(answers[1].prompt_tokens + options.max_new_tokens <= max_len);
    QVERIFY(answers[1].dropped_tokens > 0);
    // Asked again: the context just read (full attention holds up to twice the floor) is given
    // back first, so room for 1.5 floors beside the rest of the process is enough.
    const auto floor = qread::context_memory_floor(reader.summary(), cut.attention, max_len).host;
    const auto held = qread::memory_room("cpu").host_used;
    qputenv("QREAD_HOST_MEMORY", QByteArray::number(qlonglong(held + floor / 2)));
    options.config = cut;
    std::string again;
    try {
      again = reader.ask(document, "What is on page 9?", options).stop_reason;
    } catch (const qread::InputError& e) {
      again = e.what();
    }
    qunsetenv("QREAD_HOST_MEMORY");
    QVERIFY2(again == "eos" || again == "max_new_tokens", again.c_str());
  }

  void cancelStopsReadingAndAnswering() {
    const auto document = paged_document(20, 600);
    qread::Reader reader(model_);
    qread::AskOptions options;
    options.config = qread::default_config(qread::MemoryMode::inf_llm);
    qread::apply_overrides(options.config, {"n_local=64", "exc_block_size=32", "block_size=16", "n_init=8",
                                            "chunk_size=256"});
    options.max_new_tokens = 50;
    // While reading: cancel at the first progress report; ask returns promptly, nothing answered.
    std::atomic<bool> cancel{false};
    qread::AskEvents events;
    events.cancel = &cancel;
    std::int64_t reports_after_cancel = 0;
    events.reading = [&](std::int64_t, std::int64_t) {
      if (cancel) ++reports_after_cancel;
      cancel = true;
    };
    auto answer = reader.ask(document, "What is on page 9?", options, events);
    QCOMPARE(answer.stop_reason, std::string("cancelled"));
    QVERIFY(answer.text.empty());
    QCOMPARE(reports_after_cancel, 0);  // stopped at the next layer
    QVERIFY(answer.prefill_progress.back().tokens < answer.prompt_tokens);
    // While answering: cancel after the second piece; what was answered is kept.
    cancel = false;
    events.reading = {};
    int pieces = 0;
    events.text = [&](std::string_view) {
      if (++pieces == 2) cancel = true;
    };
    options.config = qread::default_config(qread::MemoryMode::origin);
    qread::AskOptions long_answer = options;
    long_answer.sampling.temperature = 1.0;  // keep going: greedy on a random model may stop at once
    long_answer.sampling.seed = rng_();
    answer = reader.ask(document, "What is on page 9?", long_answer, events);
    if (answer.stop_reason == "eos") QSKIP("the random model ended its answer before the cancel");
    QCOMPARE(answer.stop_reason, std::string("cancelled"));
    QVERIFY(!answer.text.empty());
    QVERIFY(answer.answer_tokens < 50);
    // The reader is usable after a cancel.
    cancel = false;
    events.text = {};
    options.max_new_tokens = 2;
    QVERIFY(reader.ask(document, "Why?", options, events).stop_reason != "cancelled");
  }

  void badConfigIsRejectedBeforeReading() {
    qread::Reader reader(model_);
    qread::AskOptions options;
    options.config = qread::default_config(qread::MemoryMode::qllm);
    options.config.attention.topk = 0;
    try {
      (void)reader.ask(paged_document(2, 100), "Why?", options);
      QFAIL("no error");
    } catch (const qread::InputError& e) {
      QVERIFY2(QString::fromUtf8(e.what()).contains("topk"), e.what());
    }
  }
};

QTEST_GUILESS_MAIN(TestSession)
#include "test_session.moc"
