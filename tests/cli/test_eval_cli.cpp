// qread compare and qread eval on a tiny model, run as a user would: JSON checked field by field,
// heat maps loaded back, bad arguments named, Ctrl-C answered with exit 130 and nothing written.
#include "cli_process.hpp"

#include <QDir>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QSet>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QtTest>
#ifdef QREAD_TEST_WITH_GUI
#include <QImage>
#endif

#include <cmath>
#include <csignal>
#include <sys/types.h>

namespace {
using Result = qread::test::CliResult;
Result run(const QStringList& args, int timeout_ms = 240000) {
  return qread::test::run_cli(QStringLiteral(QREAD_CLI), args, timeout_ms);
}
// Small memory settings, so that the memory modes retrieve blocks even in short prompts.
const QStringList kSmallMemory{"--set", "n_local=128", "--set", "exc_block_size=64", "--set", "block_size=32",
                               "--set", "n_init=16",   "--set", "topk=2",            "--set", "max_cached_block=8",
                               "--set", "page_size=16", "--set", "token_budget=64",  "--set", "chunk_size=256"};
// Whether process `pid` catches SIGINT (has a handler for it): the SigCgt mask of /proc/PID/status.
bool catches_sigint(qint64 pid) {
  QFile status(QStringLiteral("/proc/%1/status").arg(pid));
  if (!status.open(QIODevice::ReadOnly)) return false;
  for (const auto& line : status.readAll().split('\n'))
    if (line.startsWith("SigCgt:")) return (line.mid(7).trimmed().toULongLong(nullptr, 16) >> (SIGINT - 1)) & 1;
  return false;
}
}  // namespace

class TestEvalCli : public QObject {
  Q_OBJECT
  QTemporaryDir tmp_;

  QString path(const QString& name) const { return tmp_.filePath(name); }

 private Q_SLOTS:
  void initTestCase() {
    QVERIFY(tmp_.isValid());
    const QString corpus = QStringLiteral(QREAD_SOURCE_DIR "/tests/tokenizer/data/corpus.txt");
    const auto made = qread::test::make_tiny_model(QStringLiteral(QREAD_CLI), path("model"), corpus, 11);
    QVERIFY2(made.exit_code == 0, qPrintable(made.err));
    QVERIFY(QFile::copy(corpus, path("doc.txt")));
  }

  void compareAnswersWithEveryMode() {
    const QStringList modes{"qllm", "inf-llm", "stream-llm", "infinite-lm", "quest", "origin"};
    // topk means nothing to stream-llm or origin: it is carried in their config and unused.
    const auto r = run(QStringList{"compare", "--model", path("model"), "--doc", path("doc.txt"), "--question",
                                   "What does the text say about rivers?", "--modes", modes.join(','),
                                   "--max-new-tokens", "3", "--json"} +
                       kSmallMemory);
    QVERIFY2(r.exit_code == 0, qPrintable(r.err));
    QVERIFY2(!r.err.contains('\r'), "no progress bar without a terminal");
    const auto answers = QJsonDocument::fromJson(r.out.toUtf8()).array();
    QCOMPARE(answers.size(), modes.size());
    for (int i = 0; i < modes.size(); ++i) {
      const auto o = answers[i].toObject();
      QCOMPARE(o["mode"].toString(), modes[i]);
      QVERIFY(o["prompt_tokens"].toInt() > 500);
      QCOMPARE(o["prompt_tokens"].toInt(), answers[0].toObject()["prompt_tokens"].toInt());
      QVERIFY(o["answer_tokens"].toInt() >= 0 && o["answer_tokens"].toInt() <= 3);
      QVERIFY(o["timings"].toObject()["prefill_seconds"].toDouble() > 0);
      QVERIFY(o["stop_reason"].toString() == "eos" || o["stop_reason"].toString() == "max_new_tokens");
    }
    // Q-LLM and InfLLM retrieve memory blocks: pages are cited.
    QVERIFY(!answers[0].toObject()["cited_pages"].toArray().isEmpty());
  }

  void compareTable() {
    const auto r = run(QStringList{"compare", "--model", path("model"), "--doc", path("doc.txt"), "--question",
                                   "Who wrote it?", "--modes", "stream-llm,origin", "--max-new-tokens", "2"} +
                       kSmallMemory);
    QVERIFY2(r.exit_code == 0, qPrintable(r.err));
    const auto lines = r.out.trimmed().split('\n');
    QCOMPARE(lines.size(), 4);  // title, header, two modes
    QVERIFY2(lines[1].contains("prefill s") && lines[1].contains("tok/s") && lines[1].contains("cache hit"),
             qPrintable(r.out));
    QVERIFY(lines[2].startsWith("stream-llm"));
    QVERIFY(lines[3].startsWith("origin"));
  }

  void compareRejectsBadInput_data() {
    QTest::addColumn<QStringList>("args");
    QTest::addColumn<QString>("named");
    QTest::addRow("unknown mode") << QStringList{"--modes", "qllm,telepathy"} << "telepathy";
    QTest::addRow("bad override") << QStringList{"--set", "topk=0"} << "topk";
    QTest::addRow("missing config dir") << QStringList{"--config-dir", "/nonexistent/configs"} << "/nonexistent/configs";
  }
  void compareRejectsBadInput() {
    QFETCH(QStringList, args);
    QFETCH(QString, named);
    const auto r = run(QStringList{"compare", "--model", path("model"), "--doc", path("doc.txt"), "--question", "Why?"} +
                       args);
    QCOMPARE(r.exit_code, 2);
    QVERIFY2(r.err.contains(named), qPrintable(r.err));
    QVERIFY(r.out.isEmpty());
  }

  // With too little memory for any mode (QREAD_HOST_MEMORY below what the process holds), eval
  // refuses before reading any case, and compare prints an error row per mode and exits 2.
  void tooLittleMemoryIsRefusedUpFront() {
    auto env = QProcessEnvironment::systemEnvironment();
    env.insert("QREAD_HOST_MEMORY", "1M");
    const auto eval = qread::test::run_cli(QStringLiteral(QREAD_CLI),
                                           QStringList{"eval", "needle", "--model", path("model"), "--lengths", "256",
                                                       "--depths", "0", "--modes", "qllm", "--out", path("refused")} +
                                               kSmallMemory,
                                           240000, env);
    QCOMPARE(eval.exit_code, 2);
    QVERIFY2(eval.err.contains("eval: the longest case") && eval.err.contains("qllm mode"), qPrintable(eval.err));
    QVERIFY(!QFile::exists(path("refused") + "/results.json"));
    const auto compare = qread::test::run_cli(QStringLiteral(QREAD_CLI),
                                              QStringList{"compare", "--model", path("model"), "--doc", path("doc.txt"),
                                                          "--question", "Why?", "--modes", "stream-llm,origin"} +
                                                  kSmallMemory,
                                              240000, env);
    QCOMPARE(compare.exit_code, 2);
    const auto lines = compare.out.trimmed().split('\n');
    QCOMPARE(lines.size(), 4);  // title, header, two modes
    QVERIFY2(lines[2].startsWith("stream-llm") && lines[2].contains("error:"), qPrintable(compare.out));
    QVERIFY2(lines[3].startsWith("origin") && lines[3].contains("error:"), qPrintable(compare.out));
    QVERIFY2(compare.err.contains("qread: error: origin: ") && compare.err.contains("host memory"),
             qPrintable(compare.err));
  }

  void evalNeedleWritesResultsAndHeatMaps() {
    const QString out = path("needle");
    const auto r = run(QStringList{"eval", "needle", "--model", path("model"), "--lengths", "256,512", "--depths",
                                   "0,1", "--modes", "qllm,stream-llm", "--max-new-tokens", "4", "--seed", "5",
                                   "--out", out} +
                       kSmallMemory);
    QVERIFY2(r.exit_code == 0, qPrintable(r.err));
    QVERIFY2(r.out.contains("qllm") && r.out.contains("stream-llm") && r.out.contains("512"), qPrintable(r.out));
    QFile file(out + "/results.json");
    QVERIFY(file.open(QIODevice::ReadOnly));
    const auto o = QJsonDocument::fromJson(file.readAll()).object();
    QCOMPARE(o["task"].toString(), QStringLiteral("needle"));
    const auto results = o["results"].toArray();
    QCOMPARE(results.size(), 2 * 2 * 2);  // modes x lengths x depths
    QSet<QString> cells;
    for (const auto& value : results) {
      const auto c = value.toObject();
      for (const char* key : {"mode", "task", "length", "depth", "expected", "answer", "correct", "prompt_tokens",
                              "prefill_seconds", "decode_seconds", "stop_reason"})
        QVERIFY2(c.contains(QLatin1String(key)), key);
      QVERIFY(c["correct"].isBool());
      QCOMPARE(c["correct"].toBool(), c["answer"].toString().contains(c["expected"].toString()));
      QCOMPARE(c["expected"].toString().size(), 7);
      const int length = c["length"].toInt();
      QVERIFY(length == 256 || length == 512);
      // The prompt is sized to the length, in tokens of the model's tokenizer.
      QVERIFY2(std::abs(c["prompt_tokens"].toInt() - length) <= length / 20,
               qPrintable(QString::number(c["prompt_tokens"].toInt())));
      cells.insert(QStringLiteral("%1/%2/%3").arg(c["mode"].toString()).arg(length).arg(c["depth"].toDouble()));
    }
    QCOMPARE(cells.size(), 8);
    const auto accuracy = o["accuracy"].toArray();
    QCOMPARE(accuracy.size(), 2);
    for (const auto& a : accuracy) {
      const double v = a.toObject()["accuracy"].toDouble(-1);
      QVERIFY(v >= 0 && v <= 1);
      QCOMPARE(a.toObject()["cells"].toArray().size(), 4);
    }
#ifdef QREAD_TEST_WITH_GUI
    for (const char* mode : {"qllm", "stream-llm"}) {
      QImage image(out + QStringLiteral("/needle-%1.png").arg(QLatin1String(mode)));
      QVERIFY2(!image.isNull(), mode);
      QVERIFY(image.width() >= 200 && image.height() >= 100);
      QSet<QRgb> colours;
      for (int y = 0; y < image.height(); y += 4)
        for (int x = 0; x < image.width(); x += 4) colours.insert(image.pixel(x, y));
      QVERIFY(colours.size() > 10);  // cells, text and a colour scale, not a blank image
    }
#else
    QVERIFY2(r.err.contains("heat maps skipped"), qPrintable(r.err));
#endif
  }

  void evalPasskeyAndKvRun_data() {
    QTest::addColumn<QString>("task");
    QTest::addRow("passkey") << "passkey";
    QTest::addRow("kv") << "kv";
  }
  void evalPasskeyAndKvRun() {
    QFETCH(QString, task);
    const QString out = path("eval-" + task);
    const auto r = run(QStringList{"eval", task, "--model", path("model"), "--lengths", "700", "--depths", "0.5",
                                   "--modes", "qllm", "--max-new-tokens", "2", "--out", out} +
                       kSmallMemory);
    QVERIFY2(r.exit_code == 0, qPrintable(r.err));
    QFile file(out + "/results.json");
    QVERIFY(file.open(QIODevice::ReadOnly));
    const auto results = QJsonDocument::fromJson(file.readAll()).object()["results"].toArray();
    QCOMPARE(results.size(), 1);
    const auto c = results[0].toObject();
    QCOMPARE(c["task"].toString(), task);
    QCOMPARE(c["expected"].toString().size(), task == "kv" ? 36 : 5);
    QVERIFY2(std::abs(c["measured_depth"].toDouble() - 0.5) < 0.15, qPrintable(QString::number(c["measured_depth"].toDouble())));
  }

  void evalRejectsBadInput_data() {
    QTest::addColumn<QStringList>("args");
    QTest::addColumn<QString>("named");
    QTest::addRow("unknown task") << QStringList{"needles"} << "needles";
    QTest::addRow("unknown mode") << QStringList{"needle", "--modes", "telepathy"} << "telepathy";
    QTest::addRow("bad length") << QStringList{"needle", "--lengths", "256,12q"} << "12q";
    QTest::addRow("depth above 1") << QStringList{"needle", "--depths", "0,1.5"} << "1.5";
    QTest::addRow("negative depth") << QStringList{"needle", "--depths", "-0.25"} << "-0.25";
    QTest::addRow("missing haystack") << QStringList{"needle", "--haystack", "/nonexistent/hay.txt"}
                                      << "/nonexistent/hay.txt";
    QTest::addRow("length too short") << QStringList{"kv", "--lengths", "30"} << "30";
  }
  void evalRejectsBadInput() {
    QFETCH(QStringList, args);
    QFETCH(QString, named);
    const QString out = path("bad-eval");
    const auto r = run(QStringList{"eval"} + args + QStringList{"--model", path("model"), "--out", out});
    QCOMPARE(r.exit_code, 2);
    QVERIFY2(r.err.contains(named), qPrintable(r.err));
    QVERIFY(!QFile::exists(out + "/results.json"));
  }

  void ctrlCCancelsCleanly() {
    // Many cases of a few thousand tokens: minutes of work, interrupted after a moment.
    const QString out = path("cancelled");
    QProcess p;
    p.start(QStringLiteral(QREAD_CLI),
            {"eval", "passkey", "--model", path("model"), "--lengths", "3k", "--depths", "0,0.5,1",
             "--cases-per-cell", "100", "--modes", "origin", "--out", out});
    QVERIFY(p.waitForStarted());
    // Interrupted once its handler is in place (a fixed wait of 1.5 s was sometimes shorter than
    // loading the libraries on a busy machine: the default action then killed it), and a moment
    // into the work.
    QTRY_VERIFY_WITH_TIMEOUT(catches_sigint(p.processId()), 30000);
    QTest::qWait(500);
    QCOMPARE(p.state(), QProcess::Running);
    ::kill(pid_t(p.processId()), SIGINT);
    QVERIFY2(p.waitForFinished(20000), "cancel took more than 20 s");
    QCOMPARE(p.exitStatus(), QProcess::NormalExit);
    QCOMPARE(p.exitCode(), 130);
    QVERIFY(p.readAllStandardOutput().isEmpty());
    QVERIFY(p.readAllStandardError().contains("cancelled"));
    QVERIFY(!QFile::exists(out + "/results.json"));
  }

  void progressBarOnATerminal() {
    // `script` gives the command a terminal; the bar shows percent, speed and time left.
    if (QStandardPaths::findExecutable("script").isEmpty()) QSKIP("script(1) not installed");
    const QString command = QStringLiteral("'%1' compare --model '%2' --doc '%3' --question Why? --modes origin "
                                           "--max-new-tokens 1 >/dev/null")
                                .arg(QStringLiteral(QREAD_CLI), path("model"), path("doc.txt"));
    const auto r = qread::test::run_cli(QStringLiteral("script"), {"-qec", command, "/dev/null"});
    QVERIFY2(r.exit_code == 0, qPrintable(r.err + r.out));
    QVERIFY2(r.out.contains("origin 1/1") && r.out.contains("100%") && r.out.contains("tok/s"), qPrintable(r.out));
  }
};

QTEST_GUILESS_MAIN(TestEvalCli)
#include "test_eval_cli.moc"
