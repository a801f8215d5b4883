// Every shared oracle (outputs of the reference implementation on a tiny float32 model): the
// engine in that mode, float32 on the CPU, following the oracle protocol, must give the same
// logits after the prompt (max |diff| <= 1e-3) and the same 8 greedy ids.
#include "qread/config.hpp"
#include "qread/language_model.hpp"

#include <QtTest>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;

class TestOracles : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void matchesReference_data() {
    QTest::addColumn<QString>("name");
    for (const char* name : {"qllm", "inf-llm", "stream-llm", "infinite-lm"}) QTest::addRow("%s", name) << name;
  }

  void matchesReference() {
    QFETCH(QString, name);
    const fs::path dir = fs::path(QREAD_ORACLES_DIR) / name.toStdString();
    if (!fs::exists(dir / "oracle.json"))
      QSKIP(qPrintable("oracle not found: " + QString::fromStdString((dir / "oracle.json").string())));
    nlohmann::json oracle;
    std::ifstream(dir / "oracle.json") >> oracle;

    qread::RunConfig run;
    const auto mode = qread::parse_mode(oracle["type"].get<std::string>());
    QVERIFY(mode.has_value());
    auto& a = run.attention;
    a.mode = *mode;
    const auto& p = oracle["attention"];
    a.n_local = p["n_local"];
    a.n_init = p["n_init"];
    a.topk = p["topk"];
    a.block_size = p["block_size"];
    a.max_cached_block = p["max_cached_block"];
    a.exc_block_size = p["exc_block_size"];
    a.repr_topk = p["repr_topk"];
    a.question_weight = p["question_weight"];
    a.fattn = p["fattn"];
    run.chunk_size = oracle["chunk_size"];
    qread::validate(run, "oracle.json");

    const auto ids = oracle["input_ids"].get<std::vector<qread::TokenId>>();
    const auto span = oracle["question_span"].get<std::vector<std::int64_t>>();
    const auto expected_logits = oracle["last_logits"].get<std::vector<float>>();
    const auto expected_greedy = oracle["greedy"].get<std::vector<qread::TokenId>>();

    auto model = qread::LanguageModel::load(dir);
    model->configure_memory(a, qread::TokenSpan{span[0], span[1]});
    qread::GenerationOptions g;
    g.chunk_size = run.chunk_size;
    g.max_new_tokens = int(expected_greedy.size());
    g.stop_at_eos = false;
    const auto result = model->generate(ids, g);

    QCOMPARE(result.last_logits.size(), expected_logits.size());
    double worst = 0;
    for (std::size_t i = 0; i < expected_logits.size(); ++i)
      worst = std::max(worst, double(std::abs(result.last_logits[i] - expected_logits[i])));
    qInfo("%s: max |logit diff| %.3g, greedy %s", qPrintable(name), worst,
          result.tokens == expected_greedy ? "identical" : "DIFFERENT");
    QVERIFY2(worst <= 1e-3, qPrintable(QString("max |logit diff| %1").arg(worst)));
    QCOMPARE(result.tokens, expected_greedy);
  }
};

QTEST_APPLESS_MAIN(TestOracles)
#include "test_oracles.moc"
