// `qread tokenize` end to end: the real CLI binary (which links LibTorch) loading both kinds of
// tokenizer, the SentencePiece one through the dlopen'ed shim. Skipped when the binary has not
// been built.
#include "qread/tokenizer.hpp"
#include "tokenizer_test_util.hpp"

#include <QProcess>

#include <nlohmann/json.hpp>

class TestTokenizeCli : public QObject {
  Q_OBJECT
  QTemporaryDir dir_;
  QString qread_;

  std::filesystem::path path(const char* name) const { return std::filesystem::path(dir_.path().toStdString()) / name; }

  struct Result {
    int code;
    std::string out, err;
  };
  Result run(const QStringList& args) {
    QProcess p;
    p.start(qread_, args);
    if (!p.waitForFinished(120000)) return {-1, "", "timeout"};
    return {p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -2, p.readAllStandardOutput().toStdString(),
            p.readAllStandardError().toStdString()};
  }

 private Q_SLOTS:
  void initTestCase() {
    qread_ = qEnvironmentVariable("QREAD_BINARY_DIR") + "/bin/qread";
    if (!QFileInfo::exists(qread_)) QSKIP("the qread binary is not built");
    QVERIFY(dir_.isValid());
    const auto corpus = qread::test::corpus();
    qread::model::train_sentencepiece(corpus, 500, path("spm/tokenizer.model"));
    qread::model::train_byte_level_bpe(corpus, 500, path("bpe/tokenizer.json"));
  }

  void encodeMatchesLibrary_data() {
    QTest::addColumn<QString>("model");
    QTest::addRow("sentencepiece") << "spm";
    QTest::addRow("bpe") << "bpe";
  }
  void encodeMatchesLibrary() {
    QFETCH(QString, model);
    const auto dir = path(model.toUtf8().constData());
    const auto tokenizer = qread::model::load_tokenizer(dir);
    const std::string text = "The ledger <s> had seven copies.\n  Café 日本語 🙂\n\nlast line";
    qread::test::write_text(path("input.txt"), text + "\n");

    const auto r = run({"tokenize", "--model", QString::fromStdString(dir.string()), "--input",
                        QString::fromStdString(path("input.txt").string()), "--lines"});
    QVERIFY2(r.code == 0, r.err.c_str());
    std::istringstream out(r.out);
    std::vector<std::string> expected_lines = {"The ledger <s> had seven copies.", "  Café 日本語 🙂", "", "last line"};
    for (const auto& line : expected_lines) {
      std::string got;
      QVERIFY(std::getline(out, got));
      QCOMPARE(nlohmann::json::parse(got).get<std::vector<qread::model::TokenId>>(), tokenizer->encode(line, false));
    }

    const auto single = run({"tokenize", "--model", QString::fromStdString(dir.string()), "--text", "seven copies", "--json", "--add-bos"});
    QVERIFY2(single.code == 0, single.err.c_str());
    const auto j = nlohmann::json::parse(single.out);
    QCOMPARE(j.at("ids").get<std::vector<qread::model::TokenId>>(), tokenizer->encode("seven copies", true));

    // And back.
    std::string ids;
    for (auto id : tokenizer->encode("seven copies", false)) ids += std::to_string(id) + " ";
    const auto decoded = run({"tokenize", "--model", QString::fromStdString(dir.string()), "--decode", "--text", QString::fromStdString(ids)});
    QVERIFY2(decoded.code == 0, decoded.err.c_str());
    QCOMPARE(decoded.out, std::string("seven copies\n"));
  }

  void badInputExitsTwo() {
    QCOMPARE(run({"tokenize", "--model", QString::fromStdString(path("nowhere").string()), "--text", "x"}).code, 2);
    QCOMPARE(run({"tokenize", "--model", QString::fromStdString(path("bpe").string())}).code, 2);
    QCOMPARE(run({"tokenize", "--model", QString::fromStdString(path("bpe").string()), "--decode", "--text", "1 x"}).code, 2);
    QCOMPARE(run({"tokenize", "--model", QString::fromStdString(path("bpe").string()), "--decode", "--text", "999999"}).code, 2);
    QCOMPARE(run({"tokenize", "--model", QString::fromStdString(path("bpe").string()), "--input", "/no/such/file"}).code, 2);
  }
};

QTEST_GUILESS_MAIN(TestTokenizeCli)
#include "test_cli.moc"
