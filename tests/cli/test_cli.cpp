// The qread command line, run as a user would: through a process, checking output and exit codes.
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QtTest>

namespace {
struct Result {
  int exit_code;
  QString out, err;
};

Result run(const QStringList& args) {
  QProcess p;
  p.start(QStringLiteral(QREAD_CLI), args);
  if (!p.waitForFinished(60000)) {
    p.kill();
    return {-1, {}, QStringLiteral("timed out")};
  }
  return {p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -2,
          QString::fromUtf8(p.readAllStandardOutput()), QString::fromUtf8(p.readAllStandardError())};
}
}  // namespace

class TestCli : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void version() {
    const auto r = run({"--version"});
    QCOMPARE(r.exit_code, 0);
    QCOMPARE(r.out.trimmed(), QStringLiteral("qread " QREAD_EXPECTED_VERSION));
  }

  void helpListsCommands() {
    const auto r = run({"--help"});
    QCOMPARE(r.exit_code, 0);
    QVERIFY2(r.out.contains("info"), qPrintable(r.out));
    QVERIFY(r.out.contains("--version"));
  }

  void infoJson() {
    const auto r = run({"info", "--json"});
    QCOMPARE(r.exit_code, 0);
    QJsonParseError error;
    const auto doc = QJsonDocument::fromJson(r.out.toUtf8(), &error);
    QVERIFY2(error.error == QJsonParseError::NoError, qPrintable(error.errorString() + ": " + r.out));
    const auto o = doc.object();
    QCOMPARE(o["qread_version"].toString(), QStringLiteral(QREAD_EXPECTED_VERSION));
    QVERIFY(o["torch_version"].toString().startsWith('1') || o["torch_version"].toString().startsWith('2'));
    QVERIFY(o["gpus"].isArray());
    // init_runtime sizes LibTorch's pool to the cores this process may use.
    QCOMPARE(o["intra_op_threads"].toInt(), o["cpu_cores"].toInt());
    QVERIFY(o["cpu_cores"].toInt() >= 1);
  }

  void infoText() {
    const auto r = run({"info"});
    QCOMPARE(r.exit_code, 0);
    QVERIFY(r.out.startsWith("qread " QREAD_EXPECTED_VERSION));
    QVERIFY(r.out.contains("LibTorch"));
  }

  void badArgumentsAreUsageErrors_data() {
    QTest::addColumn<QStringList>("args");
    QTest::addColumn<QString>("named");
    QTest::addRow("unknown option") << QStringList{"--frobnicate"} << "--frobnicate";
    QTest::addRow("unknown command") << QStringList{"summon"} << "summon";
    QTest::addRow("unknown option of info") << QStringList{"info", "--yaml"} << "--yaml";
  }
  void badArgumentsAreUsageErrors() {
    QFETCH(QStringList, args);
    QFETCH(QString, named);
    const auto r = run(args);
    QCOMPARE(r.exit_code, 2);
    QVERIFY2(r.err.contains(named), qPrintable(r.err));
  }
};

QTEST_GUILESS_MAIN(TestCli)
#include "test_cli.moc"
