// The qread command line, run as a user would: through a process, checking output and exit codes.
#include "cli_process.hpp"

#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTemporaryDir>
#include <QtTest>

namespace {
using Result = qread::test::CliResult;
Result run(const QStringList& args) { return qread::test::run_cli(QStringLiteral(QREAD_CLI), args); }
}  // namespace

QJsonObject json_of(const Result& r) { return QJsonDocument::fromJson(r.out.toUtf8()).object(); }

class TestCli : public QObject {
  Q_OBJECT
  QTemporaryDir tmp_;

  QString path(const QString& name) const { return tmp_.filePath(name); }

 private Q_SLOTS:
  void initTestCase() {
    QVERIFY(tmp_.isValid());
    // A tiny model with a BPE tokenizer, and a book of a few pages.
    const QString corpus = QStringLiteral(QREAD_SOURCE_DIR "/tests/tokenizer/data/corpus.txt");
    const auto made = qread::test::make_tiny_model(QStringLiteral(QREAD_CLI), path("model"), corpus, 7);
    QVERIFY2(made.exit_code == 0, qPrintable(made.err));
    QFile in(corpus);
    QVERIFY(in.open(QIODevice::ReadOnly));
    const QByteArray text = in.readAll();
    QFile book(path("book.txt"));
    QVERIFY(book.open(QIODevice::WriteOnly));
    for (int i = 0; i < 4; ++i) book.write(text);
  }

  void askAnswersWithCitedPages_data() {
    QTest::addColumn<QStringList>("mode");
    QTest::addRow("qllm") << QStringList{"--mode", "qllm", "--set", "n_local=128", "--set", "exc_block_size=64",
                                         "--set", "block_size=32", "--set", "n_init=16", "--set", "chunk_size=512"};
    QTest::addRow("stream-llm") << QStringList{"--mode", "stream-llm", "--set", "n_local=128"};
    QTest::addRow("origin") << QStringList{"--mode", "origin"};
  }
  void askAnswersWithCitedPages() {
    QFETCH(QStringList, mode);
    const auto r = run(QStringList{"ask", "--model", path("model"), "--doc", path("book.txt"), "--question",
                                   "What does the text say about rivers?", "--max-new-tokens", "6", "--json"} + mode);
    QVERIFY2(r.exit_code == 0, qPrintable(r.err));
    const auto o = json_of(r);
    QCOMPARE(o["mode"].toString(), mode[1]);
    QVERIFY(o["answer_tokens"].toInt() >= 1 && o["answer_tokens"].toInt() <= 6);
    QVERIFY(o["prompt_tokens"].toInt() > 2000);
    QVERIFY(o["timings"].toObject()["prefill_seconds"].toDouble() > 0);
    const int pages = o["document"].toObject()["pages"].toInt();
    QVERIFY(pages >= 2);
    const auto cited = o["cited_pages"].toArray();
    if (mode[1] == "qllm") {
      QVERIFY(!cited.isEmpty());  // Q-LLM retrieves memory blocks, each on some page
      QVERIFY(o["question_span"].isArray());
    } else {
      QVERIFY(cited.isEmpty());  // the other modes keep no memory blocks
    }
    for (const auto& c : cited) {
      QVERIFY(c.toObject()["page"].toInt() >= 1 && c.toObject()["page"].toInt() <= pages);
      QVERIFY(c.toObject()["retrievals"].toInt() >= 1);
    }
  }

  void askRejectsBadInput_data() {
    QTest::addColumn<QStringList>("args");
    QTest::addColumn<QString>("named");
    QTest::addRow("missing document") << QStringList{"--doc", "/nonexistent/book.txt"} << "/nonexistent/book.txt";
    QTest::addRow("unknown mode") << QStringList{"--mode", "telepathy"} << "telepathy";
    QTest::addRow("bad override") << QStringList{"--set", "topk=0"} << "topk";
    QTest::addRow("unknown key") << QStringList{"--set", "n_locl=3"} << "n_locl";
  }
  void askRejectsBadInput() {
    QFETCH(QStringList, args);
    QFETCH(QString, named);
    QStringList all{"ask", "--model", path("model"), "--question", "Why?"};
    if (!args.contains("--doc")) all << "--doc" << path("book.txt");
    const auto r = run(all + args);
    QCOMPARE(r.exit_code, 2);
    QVERIFY2(r.err.contains(named), qPrintable(r.err));
  }

  void generateStreamsTextAndIds() {
    // Text through the tokenizer and a chat template, streamed.
    const auto text = run({"generate", "--model", path("model"), "--prompt", "Tell me about rivers.", "--chat",
                           "chatml", "--max-new-tokens", "5"});
    QVERIFY2(text.exit_code == 0, qPrintable(text.err));
    QVERIFY2(text.err.contains("stop: max_new_tokens") || text.err.contains("stop: eos"), qPrintable(text.err));
    // Ids in, JSON out: greedy is deterministic and the first id is the argmax of the logits.
    QFile ids(path("ids.json"));
    QVERIFY(ids.open(QIODevice::WriteOnly));
    ids.write("[5, 17, 42, 99, 3, 250]");
    ids.close();
    QStringList args{"generate", "--model", path("model"), "--input-ids", path("ids.json"), "--max-new-tokens", "4",
                     "--json", "--logits"};
    const auto a = run(args), b = run(args);
    QVERIFY2(a.exit_code == 0, qPrintable(a.err));
    const auto ja = json_of(a), jb = json_of(b);
    QCOMPARE(ja["tokens"].toArray(), jb["tokens"].toArray());
    QCOMPARE(ja["prompt_tokens"].toInt(), 6);
    const auto logits = ja["last_logits"].toArray();
    int best = 0;
    for (int i = 1; i < logits.size(); ++i)
      if (logits[i].toDouble() > logits[best].toDouble()) best = i;
    QVERIFY(!ja["tokens"].toArray().isEmpty() || ja["stop_reason"].toString() == "eos");
    if (!ja["tokens"].toArray().isEmpty()) QCOMPARE(ja["tokens"].toArray()[0].toInt(), best);
    // Bad ids are bad input.
    QVERIFY(ids.open(QIODevice::WriteOnly | QIODevice::Truncate));
    ids.write("[5, -1]");
    ids.close();
    const auto bad = run({"generate", "--model", path("model"), "--input-ids", path("ids.json")});
    QCOMPARE(bad.exit_code, 2);
    QVERIFY2(bad.err.contains("input_ids[1]"), qPrintable(bad.err));
  }

  void benchReportsEachLength() {
    const auto r = run({"bench", "--shape", "tiny", "--random-weights", "--lengths", "300,1k", "--decode-tokens", "2",
                        "--json"});
    QVERIFY2(r.exit_code == 0, qPrintable(r.err));
    const auto lines = r.out.trimmed().split('\n');
    QCOMPARE(lines.size(), 2);
    const auto first = QJsonDocument::fromJson(lines[0].toUtf8()).object();
    const auto second = QJsonDocument::fromJson(lines[1].toUtf8()).object();
    QCOMPARE(first["length"].toInt(), 300);
    QCOMPARE(second["length"].toInt(), 1024);
    QCOMPARE(first["mode"].toString(), QStringLiteral("origin"));
    QVERIFY(first["prefill_tokens_per_second"].toDouble() > 0);
    QVERIFY(second["decode_ms_per_token"].toDouble() > 0);
    QCOMPARE(first["cache_hits"].toInt() + first["cache_misses"].toInt(), 0);  // full attention: no block cache
    // Q-LLM: the block cache's lookups, every layer's and execution block's retrieved blocks.
    const auto qllm = run({"bench", "--shape", "tiny", "--random-weights", "--lengths", "1k", "--decode-tokens", "2",
                           "--config", QREAD_SOURCE_DIR "/config/smollm2-qllm.yaml", "--set", "n_local=128", "--set",
                           "exc_block_size=64", "--set", "topk=2", "--json"});
    QVERIFY2(qllm.exit_code == 0, qPrintable(qllm.err));
    const auto q = QJsonDocument::fromJson(qllm.out.trimmed().toUtf8()).object();
    const auto lookups = q["cache_hits"].toInt() + q["cache_misses"].toInt();
    // At most topk (2) blocks per execution block of 64 queries (16 of them, 2 decoded), 2 layers.
    QVERIFY2(lookups > 0 && lookups <= 2 * 2 * (16 + 2), qPrintable(qllm.out));
    QVERIFY(q["bytes_to_device"].toInt() == 0);  // the CPU store reads blocks in place
    const auto bad = run({"bench", "--shape", "gpt-9", "--random-weights"});
    QCOMPARE(bad.exit_code, 2);
    QVERIFY2(bad.err.contains("gpt-9"), qPrintable(bad.err));
    const auto bad_length = run({"bench", "--shape", "tiny", "--random-weights", "--lengths", "12q"});
    QCOMPARE(bad_length.exit_code, 2);
    QVERIFY2(bad_length.err.contains("12q"), qPrintable(bad_length.err));
  }

  void mkmodelRejectsBadShapes() {
    const auto r = run({"mkmodel", "--out", path("bad"), "--heads", "4", "--kv-heads", "3"});
    QCOMPARE(r.exit_code, 2);
    QVERIFY2(r.err.contains("kv_heads"), qPrintable(r.err));
  }

  void replayMatchesTheOracle() {
    const QString dir = QStringLiteral(QREAD_ORACLES_DIR "/qllm");
    if (!QFile::exists(dir + "/oracle.json")) QSKIP("shared oracles not found");
    QFile yaml(path("qllm.yaml"));
    QVERIFY(yaml.open(QIODevice::WriteOnly));
    yaml.write("model:\n  type: qllm\n  n_local: 256\n  n_init: 32\n  topk: 4\n  block_size: 64\n"
               "  max_cached_block: 16\n  exc_block_size: 128\n  repr_topk: 4\n  question_weight: 4\n"
               "chunk_size: 1024\n");
    yaml.close();
    const auto r = run({"replay", "--model", dir, "--input-ids", dir + "/oracle.json", "--config", path("qllm.yaml")});
    QVERIFY2(r.exit_code == 0, qPrintable(r.err));
    const auto got = json_of(r);
    QFile f(dir + "/oracle.json");
    QVERIFY(f.open(QIODevice::ReadOnly));
    const auto oracle = QJsonDocument::fromJson(f.readAll()).object();
    QCOMPARE(got["greedy"].toArray(), oracle["greedy"].toArray());
    const auto a = got["last_logits"].toArray(), b = oracle["last_logits"].toArray();
    QCOMPARE(a.size(), b.size());
    double worst = 0;
    for (int i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(a[i].toDouble() - b[i].toDouble()));
    QVERIFY2(worst <= 1e-3, qPrintable(QString::number(worst)));
    QCOMPARE(got["question_span"].toArray(), oracle["question_span"].toArray());
  }

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

  // Idle OpenMP threads spin briefly (GOMP_SPINCOUNT 30000) unless the user chose otherwise; set
  // before libgomp starts, so the process sees it from its first instruction on.
  void openmpWaitDefault_data() {
    QTest::addColumn<QString>("variable");
    QTest::addColumn<QString>("value");
    QTest::addColumn<QString>("policy");
    QTest::addColumn<QString>("spincount");
    QTest::addRow("neither set") << "" << "" << "" << "30000";
    QTest::addRow("wait policy kept") << "OMP_WAIT_POLICY" << "passive" << "passive" << "";
    QTest::addRow("spin count kept") << "GOMP_SPINCOUNT" << "1234" << "" << "1234";
  }
  void openmpWaitDefault() {
    QFETCH(QString, variable);
    QFETCH(QString, value);
    QFETCH(QString, policy);
    QFETCH(QString, spincount);
    auto env = QProcessEnvironment::systemEnvironment();
    env.remove("OMP_WAIT_POLICY");
    env.remove("GOMP_SPINCOUNT");
    if (!variable.isEmpty()) env.insert(variable, value);
    const auto r = qread::test::run_cli(QStringLiteral(QREAD_CLI), {"info", "--json"}, 120000, env);
    QCOMPARE(r.exit_code, 0);
    const auto wait = QJsonDocument::fromJson(r.out.toUtf8()).object()["openmp_wait"].toObject();
    QCOMPARE(wait["OMP_WAIT_POLICY"].isNull(), policy.isEmpty());
    QCOMPARE(wait["OMP_WAIT_POLICY"].toString(), policy);
    QCOMPARE(wait["GOMP_SPINCOUNT"].isNull(), spincount.isEmpty());
    QCOMPARE(wait["GOMP_SPINCOUNT"].toString(), spincount);
    const auto text = qread::test::run_cli(QStringLiteral(QREAD_CLI), {"info"}, 120000, env);
    QVERIFY2(text.out.contains("OpenMP waiting: " + (policy.isEmpty() ? "GOMP_SPINCOUNT=" + spincount
                                                                      : "OMP_WAIT_POLICY=" + policy)),
             qPrintable(text.out));
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
