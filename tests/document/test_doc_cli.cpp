// `qread doc`, run as a user would: through a process, checking its output and exit codes.
#include "cli_process.hpp"
#include "pdf_fixtures.hpp"

#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTemporaryDir>
#include <QtTest>

using qread::test::make_pdf;
using qread::test::text_page;

namespace {
using Result = qread::test::CliResult;
Result run(const QStringList& args) { return qread::test::run_cli(QStringLiteral(QREAD_CLI), args); }

QJsonObject parse(const Result& r) {
  QJsonParseError error;
  const auto doc = QJsonDocument::fromJson(r.out.toUtf8(), &error);
  if (error.error != QJsonParseError::NoError) qWarning("not JSON: %s\n%s", qPrintable(error.errorString()), qPrintable(r.out));
  return doc.object();
}
}  // namespace

class TestDocCli : public QObject {
  Q_OBJECT

  QTemporaryDir dir_;

  QString write(const QString& name, const QByteArray& bytes) {
    const QString path = dir_.filePath(name);
    QFile file(path);
    if (!file.open(QIODevice::WriteOnly) || file.write(bytes) != bytes.size()) qFatal("cannot write %s", qPrintable(path));
    return path;
  }

 private Q_SLOTS:
  void initTestCase() { QVERIFY(dir_.isValid()); }

  void textFileAsJson() {
    const QString path = write("notes.md", "# Notes\n\nFirst paragraph.\n\n## Details\n\nSecond.\n");
    const auto r = run({"doc", path, "--json"});
    QCOMPARE(r.exit_code, 0);
    const QJsonObject o = parse(r);
    QCOMPARE(o["kind"].toString(), QString("markdown"));
    const QJsonArray pages = o["pages"].toArray();
    QCOMPARE(pages.size(), 1);
    QCOMPARE(pages[0].toObject()["number"].toInt(), 1);
    QCOMPARE(pages[0].toObject()["text"].toString(), QString("# Notes\n\nFirst paragraph.\n\n## Details\n\nSecond."));
    const QJsonArray sections = o["sections"].toArray();
    QCOMPARE(sections.size(), 2);
    QCOMPARE(sections[1].toObject()["title"].toString(), QString("Details"));
    QCOMPARE(sections[1].toObject()["level"].toInt(), 2);
  }

#ifdef QREAD_TEST_PDF
  void pdfAsJson() {
    const QString path = write("two.pdf", make_pdf({text_page({"One."}), text_page({"Two \u00e9."})}));
    const auto r = run({"doc", path, "--json"});
    QCOMPARE(r.exit_code, 0);
    const QJsonArray pages = parse(r)["pages"].toArray();
    QCOMPARE(pages.size(), 2);
    QCOMPARE(pages[1].toObject()["number"].toInt(), 2);
    QCOMPARE(pages[1].toObject()["text"].toString(), QString::fromUtf8("Two \xC3\xA9."));
  }

  void pdfAsText() {
    const QString path = write("two-text.pdf", make_pdf({text_page({"One."}), text_page({"Two."})}));
    const auto r = run({"doc", path});
    QCOMPARE(r.exit_code, 0);
    QCOMPARE(r.out, QString("=== page 1 ===\nOne.\n\n=== page 2 ===\nTwo.\n\n"));
  }

  void passwordOption() {
    const QString path = write("locked.pdf", make_pdf({text_page({"Opened."})}, "pw"));
    auto r = run({"doc", path});
    QCOMPARE(r.exit_code, 2);
    QVERIFY2(r.err.contains("encrypted and needs a password"), qPrintable(r.err));
    r = run({"doc", path, "--password", "pw", "--json"});
    QCOMPARE(r.exit_code, 0);
    QCOMPARE(parse(r)["pages"].toArray()[0].toObject()["text"].toString(), QString("Opened."));
  }
#endif

  void warningsGoToStderr() {
    const QString path = write("latin1.txt", "na\xEFve\n");
    const auto r = run({"doc", path, "--json"});
    QCOMPARE(r.exit_code, 0);
    QVERIFY2(r.err.contains("qread: warning: not valid UTF-8"), qPrintable(r.err));
    QCOMPARE(parse(r)["pages"].toArray()[0].toObject()["text"].toString(), QString::fromUtf8("na\xC3\xAFve"));
  }

  void badInputExitsTwo_data() {
    QTest::addColumn<QString>("name");
    QTest::addColumn<QByteArray>("bytes");
    QTest::addColumn<QString>("expected");
    QTest::addRow("empty") << "empty.txt" << QByteArray() << "the file is empty";
    QTest::addRow("binary") << "blob.bin" << QByteArray("\0\1\2", 3) << "not a text file";
    QTest::addRow("missing") << "" << QByteArray() << "cannot open: no such file";
#ifdef QREAD_TEST_PDF
    const QByteArray pdf = make_pdf({text_page({"x"})});
    QTest::addRow("truncated pdf") << "cut.pdf" << pdf.left(pdf.size() / 2) << "the PDF is truncated";
#endif
  }
  void badInputExitsTwo() {
    QFETCH(QString, name);
    QFETCH(QByteArray, bytes);
    QFETCH(QString, expected);
    const QString path = name.isEmpty() ? dir_.filePath("missing.txt") : write(name, bytes);
    const auto r = run({"doc", path, "--json"});
    QCOMPARE(r.exit_code, 2);
    QVERIFY2(r.err.startsWith("qread: error: " + path + ": "), qPrintable(r.err));
    QVERIFY2(r.err.contains(expected), qPrintable(r.err));
    QVERIFY(r.out.isEmpty());
  }

  void fileIsRequired() {
    const auto r = run({"doc"});
    QCOMPARE(r.exit_code, 2);
    QVERIFY2(r.err.contains("file"), qPrintable(r.err));
  }
};

QTEST_GUILESS_MAIN(TestDocCli)
#include "test_doc_cli.moc"
