// The evaluation cases (engine/eval): documents of the asked length with the fact at the asked
// depth, the kv key present once, the scorer, the option lists, the reports. No LibTorch: a tiny
// model folder gives the tokenizer (BPE trained on the test corpus) and the chat template.
#include "qread/chat_template.hpp"
#include "qread/error.hpp"
#include "qread/eval.hpp"
#include "qread/model_maker.hpp"
#include "qread/prompt.hpp"
#include "qread/tokenizer.hpp"
#include "test_support.hpp"

#include <QDir>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTemporaryDir>
#include <QtTest>

#include <cmath>
#include <random>

using namespace qread;
using eval::Task;

Q_DECLARE_METATYPE(qread::eval::Task)

namespace {

std::size_t count_of(std::string_view text, std::string_view what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string_view::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

}  // namespace

class TestEvalCases : public QObject {
  Q_OBJECT
  QTemporaryDir tmp_;
  std::unique_ptr<model::Tokenizer> tokenizer_;
  std::unique_ptr<model::ChatTemplate> chat_;
  std::mt19937_64 random_{test::random_seed()};

  eval::PromptOverhead overhead() const {
    return [this](const std::string& question) {
      return std::int64_t(build_document_prompt(eval::make_document("", "empty"), question, *tokenizer_, *chat_)
                              .ids.size());
    };
  }
  eval::CaseRequest request(Task task, std::int64_t length, double depth) {
    eval::CaseRequest r;
    r.task = task;
    r.length = length;
    r.depth = depth;
    r.seed = random_();
    r.haystack_seed = random_();
    return r;
  }
  std::int64_t tokens(std::string_view text) const { return std::int64_t(tokenizer_->encode(text, false).size()); }

 private Q_SLOTS:
  void initTestCase() {
    QVERIFY(tmp_.isValid());
    MakeModelOptions options;
    options.tokenizer = "bpe";
    options.corpus = QREAD_TEST_SOURCE_DIR "/tests/tokenizer/data/corpus.txt";
    const std::filesystem::path dir = tmp_.filePath("model").toStdString();
    make_model(dir, options);
    tokenizer_ = model::load_tokenizer(dir);
    chat_ = std::make_unique<model::ChatTemplate>(model::ChatTemplate::by_name("chatml"));
  }

  void factSitsAtTheDepth_data() {
    QTest::addColumn<Task>("task");
    QTest::addColumn<double>("depth");
    for (auto task : {Task::needle, Task::passkey, Task::kv})
      for (double depth : {0.0, 0.25, 0.5, 0.8, 1.0})
        QTest::addRow("%s@%g", eval::task_name(task), depth) << task << depth;
  }
  void factSitsAtTheDepth() {
    QFETCH(Task, task);
    QFETCH(double, depth);
    const auto c = eval::make_case(request(task, 3000, depth), *tokenizer_);
    // The fact's bytes are where the case says, and hold the value.
    const auto fact = std::string_view(c.text).substr(c.needle_offset, c.needle_size);
    QVERIFY2(fact.find(c.expected) != std::string_view::npos, fact.data());
    // Its token position, measured here, relative to the filler after the task's preamble
    // (passkey's instruction, kv's "JSON data: {").
    QVERIFY(c.body_offset <= c.needle_offset);
    const auto before = tokens(std::string_view(c.text).substr(c.body_offset, c.needle_offset - c.body_offset));
    const auto all = tokens(std::string_view(c.text).substr(c.body_offset));
    const double measured = double(before) / double(all - tokens(fact));
    // Tolerance: the fact goes at the boundary between two filler units closest to the depth,
    // so within half a unit (a kv entry is as long as the fact, ~80 tokens of this 400-token
    // vocabulary; a generated sentence up to ~70), plus a little for tokens merging at joins.
    const double tolerance = 0.5 * double(std::max<std::int64_t>(c.needle_tokens, 70)) / double(all) + 0.005;
    QVERIFY2(std::abs(measured - depth) <= tolerance,
             qPrintable(QStringLiteral("depth %1 measured %2").arg(depth).arg(measured)));
    QVERIFY(std::abs(c.measured_depth() - measured) < 0.01);
  }

  void promptLengthIsNearTheTarget_data() {
    QTest::addColumn<Task>("task");
    QTest::addColumn<qint64>("length");
    for (auto task : {Task::needle, Task::passkey, Task::kv})
      for (qint64 length : {600, 2000, 5000}) QTest::addRow("%s-%lld", eval::task_name(task), length) << task << length;
  }
  void promptLengthIsNearTheTarget() {
    QFETCH(Task, task);
    QFETCH(qint64, length);
    std::uniform_real_distribution<double> any_depth(0.0, 1.0);
    const auto c = eval::make_case(request(task, length, any_depth(random_)), *tokenizer_, overhead());
    const auto prompt = build_document_prompt(eval::make_document(c.text, "case"), c.question, *tokenizer_, *chat_);
    const auto n = std::int64_t(prompt.ids.size());
    // Sentences are cut to fill the last gap; kv entries are not (the JSON would break), so kv
    // is within half an entry (a UUID pair is ~80 tokens of this 400-token vocabulary).
    const double tolerance = std::max(0.03 * double(length), task == Task::kv ? 0.5 * double(c.needle_tokens) + 2 : 0.0);
    QVERIFY2(std::abs(double(n - length)) <= tolerance,
             qPrintable(QStringLiteral("target %1, prompt %2 tokens").arg(length).arg(n)));
  }

  void kvKeyIsInTheObjectOnce() {
    for (int i = 0; i < 5; ++i) {
      std::uniform_real_distribution<double> any_depth(0.0, 1.0);
      const auto c = eval::make_case(request(Task::kv, 1500, any_depth(random_)), *tokenizer_);
      // The question names the key in quotes.
      const auto open = c.question.find('"'), close = c.question.find('"', open + 1);
      QVERIFY(open != std::string::npos && close != std::string::npos);
      const auto key = c.question.substr(open + 1, close - open - 1);
      QCOMPARE(key.size(), std::size_t(36));
      QCOMPARE(count_of(c.text, key), std::size_t(1));
      QCOMPARE(count_of(c.text, c.expected), std::size_t(1));
      // The object is JSON, and the key maps to the expected value.
      const auto object_text = c.text.substr(c.text.find('{'));
      QJsonParseError error;
      const auto json = QJsonDocument::fromJson(QByteArray::fromStdString(object_text), &error);
      QVERIFY2(error.error == QJsonParseError::NoError, qPrintable(error.errorString()));
      QVERIFY(json.object().size() > 5);
      QCOMPARE(json.object()[QString::fromStdString(key)].toString().toStdString(), c.expected);
    }
  }

  void needleIsInTheHaystackOnce() {
    const auto c = eval::make_case(request(Task::needle, 2000, 0.5), *tokenizer_);
    QCOMPARE(count_of(c.text, c.expected), std::size_t(1));
    QCOMPARE(count_of(c.text, "special magic number"), std::size_t(1));
    QVERIFY(c.question.find("special magic number") != std::string::npos);
    // A given haystack text is used (cycled when short).
    eval::CaseRequest r = request(Task::needle, 2000, 0.3);
    const std::string hay = "Zebras graze quietly in the valley. Nobody counts them.";
    r.haystack = hay;
    const auto d = eval::make_case(r, *tokenizer_);
    QVERIFY(count_of(d.text, "Zebras graze quietly") > 10);
    QCOMPARE(count_of(d.text, d.expected), std::size_t(1));
  }

  void casesAreSeeded() {
    auto r = request(Task::passkey, 800, 0.5);
    const auto a = eval::make_case(r, *tokenizer_), b = eval::make_case(r, *tokenizer_);
    QCOMPARE(a.text, b.text);
    QCOMPARE(a.expected, b.expected);
    // Another seed, another value (90,000 passkeys: equal by chance about once in 90,000).
    int differ = 0;
    for (int i = 0; i < 3; ++i) {
      r.seed = random_();
      differ += eval::make_case(r, *tokenizer_).expected != a.expected;
    }
    QVERIFY(differ >= 2);
  }

  void tooShortALengthIsBadInput() {
    QVERIFY_THROWS_EXCEPTION(InputError, eval::make_case(request(Task::kv, 40, 0.5), *tokenizer_, overhead()));
  }

  void scorerNeedsTheValue() {
    std::uniform_int_distribution<int> digits(1'000'000, 9'999'999);
    const auto value = std::to_string(digits(random_));
    QVERIFY(eval::is_correct("The special magic number is " + value + ".", value));
    QVERIFY(eval::is_correct(value, value));
    QVERIFY(!eval::is_correct("The special magic number is " + value.substr(0, 6) + ".", value));
    QVERIFY(!eval::is_correct("I do not know.", value));
    QVERIFY(!eval::is_correct("", value));
    QVERIFY(!eval::is_correct("anything", ""));
  }

  void listsNameTheBadValue() {
    QCOMPARE(eval::parse_lengths("2k,4k,300"), (std::vector<std::int64_t>{2048, 4096, 300}));
    QCOMPARE(eval::parse_depths("0, 0.25,1"), (std::vector<double>{0, 0.25, 1}));
    QCOMPARE(eval::parse_modes("qllm,origin").size(), std::size_t(2));
    auto message = [](auto f) -> std::string {
      try {
        f();
      } catch (const InputError& e) {
        return e.what();
      }
      return "no error";
    };
    QVERIFY(message([] { eval::parse_lengths("2k,12q"); }).find("12q") != std::string::npos);
    QVERIFY(message([] { eval::parse_lengths("0"); }).find("'0'") != std::string::npos);
    QVERIFY(message([] { eval::parse_lengths("2k,"); }).find("''") != std::string::npos);
    QVERIFY(message([] { eval::parse_depths("0.5,1.5"); }).find("1.5") != std::string::npos);
    QVERIFY(message([] { eval::parse_depths("-0.1"); }).find("-0.1") != std::string::npos);
    QVERIFY(message([] { eval::parse_depths("half"); }).find("half") != std::string::npos);
    QVERIFY(message([] { eval::parse_modes("qllm,telepathy"); }).find("telepathy") != std::string::npos);
    QVERIFY(message([] { eval::parse_modes("qllm,qllm"); }).find("twice") != std::string::npos);
    QVERIFY(!eval::parse_task("needles"));
    QCOMPARE(*eval::parse_task("kv"), Task::kv);
  }

  void configDirPicksAFilePerMode() {
    const QString dir = tmp_.filePath("configs");
    QVERIFY(QDir().mkpath(dir));
    auto write = [&](const QString& name, const char* text) {
      QFile f(dir + "/" + name);
      QVERIFY(f.open(QIODevice::WriteOnly));
      f.write(text);
    };
    write("a-stream.yaml", "model:\n  type: stream-llm\n  n_local: 300\n");
    write("b-stream.yaml", "model:\n  type: stream-llm\n  n_local: 400\n");
    write("qllm.yaml", "model:\n  type: qllm\n  topk: 3\n");
    write("broken.yaml", "model: [\n");
    std::string source;
    const std::filesystem::path d = dir.toStdString();
    QCOMPARE(eval::config_for_mode(MemoryMode::stream_llm, d, &source).attention.n_local, 300);
    QVERIFY(source.find("a-stream.yaml") != std::string::npos);
    QCOMPARE(eval::config_for_mode(MemoryMode::qllm, d, &source).attention.topk, 3);
    QCOMPARE(eval::config_for_mode(MemoryMode::quest, d, &source), default_config(MemoryMode::quest));
    QVERIFY(source.empty());
    QCOMPARE(eval::config_for_mode(MemoryMode::origin, std::nullopt), default_config(MemoryMode::origin));
  }

  void gridsAndReportsCountTheCases() {
    eval::EvalPlan plan;
    plan.task = Task::needle;
    plan.lengths = {256, 512};
    plan.depths = {0, 1};
    plan.configs = {default_config(MemoryMode::qllm), default_config(MemoryMode::origin)};
    std::vector<eval::EvalResult> results;
    std::bernoulli_distribution coin(0.5);
    int right[2] = {0, 0};
    for (int m = 0; m < 2; ++m)
      for (auto length : plan.lengths)
        for (auto depth : plan.depths) {
          eval::EvalResult r;
          r.mode = m ? "origin" : "qllm";
          r.length = length;
          r.depth = depth;
          r.correct = coin(random_);
          right[m] += r.correct;
          r.stop_reason = "eos";
          results.push_back(r);
        }
    const auto grids = eval::accuracy_grids(results, plan);
    QCOMPARE(grids.size(), std::size_t(2));
    for (int m = 0; m < 2; ++m) {
      QCOMPARE(grids[std::size_t(m)].overall(), right[m] / 4.0);
      for (std::size_t d = 0; d < 2; ++d)
        for (std::size_t l = 0; l < 2; ++l) {
          const auto& r = results[std::size_t(m) * 4 + l * 2 + d];
          QCOMPARE(grids[std::size_t(m)].accuracy(d, l), r.correct ? 1.0 : 0.0);
        }
    }
    const auto json = QJsonDocument::fromJson(QByteArray::fromStdString(eval::results_json(results, plan, "m")));
    QCOMPARE(json.object()["results"].toArray().size(), 8);
    QCOMPARE(json.object()["accuracy"].toArray().size(), 2);
    const auto table = eval::summary_table(grids);
    QVERIFY2(table.find("qllm") != std::string::npos && table.find("512") != std::string::npos, table.c_str());
  }
};

QTEST_GUILESS_MAIN(TestEvalCases)
#include "test_eval_cases.moc"
