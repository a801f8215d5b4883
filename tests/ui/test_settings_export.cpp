// Settings (validated by the engine's own config checks, persisted with QSettings), the
// answer store (autosave) and the three export formats, without a model: answers are made
// here.
#include "ui_fixtures.hpp"

#include "answer_format.hpp"
#include "answer_store.hpp"
#include "app_settings.hpp"
#include "export.hpp"
#include "settings_dialog.hpp"

#include <poppler-qt6.h>

#include <QComboBox>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QSettings>
#include <QtTest>

using namespace qread::ui;

namespace {

qread::Answer sample_answer(const std::string& question, const std::string& mode) {
  qread::Answer a;
  a.question = question;
  a.text = "The river town; pages 3 and 4.";
  a.stop_reason = "eos";
  a.mode = mode;
  a.config_yaml = "model:\n  type: " + mode + "\n  n_local: 128\n";
  a.model = "/models/tiny";
  a.document = "/docs/book.pdf";
  a.document_pages = 6;
  a.device = "cpu";
  a.dtype = "float32";
  a.prompt_tokens = 2345;
  a.answer_tokens = 9;
  a.tokenize_seconds = 0.01;
  a.prefill_seconds = 1.5;
  a.decode_seconds = 0.3;
  a.prefill_progress = {{1000, 0.6}, {2345, 1.5}};
  a.host_peak_bytes = 300 << 20;
  a.cache_hits = 30;
  a.cache_misses = 10;
  a.bytes_to_device = 1 << 20;
  a.cited_pages = {{3, 12}, {4, 5}};
  a.finished_at = "2026-11-24T10:00:00Z";
  return a;
}

}  // namespace

class TestSettingsExport : public QObject {
  Q_OBJECT
  std::unique_ptr<qread::test::UiFixture> fx_;

 private Q_SLOTS:
  void initTestCase() { fx_ = std::make_unique<qread::test::UiFixture>(); }

  void settingsDialogRejectsBadValuesWithTheEngineMessage_data() {
    QTest::addColumn<QString>("override");
    QTest::addColumn<QString>("named");
    QTest::addRow("topk zero") << "topk=0" << "topk";
    QTest::addRow("unknown key") << "n_locl=3" << "n_locl";
    QTest::addRow("not a number") << "n_local=many" << "n_local";
    QTest::addRow("no equals sign") << "chunk_size" << "chunk_size";
  }
  void settingsDialogRejectsBadValuesWithTheEngineMessage() {
    QFETCH(QString, override);
    QFETCH(QString, named);
    SettingsDialog dialog(AppSettings{});
    dialog.overridesEdit()->setPlainText(override);
    dialog.accept();
    QCOMPARE(dialog.result(), int(QDialog::Rejected));
    QVERIFY2(dialog.errorText().contains(named), qPrintable(dialog.errorText()));
    // Fixing the value makes it acceptable.
    dialog.overridesEdit()->setPlainText(QStringLiteral("topk=4\nn_local=2048"));
    dialog.accept();
    QCOMPARE(dialog.result(), int(QDialog::Accepted));
    QVERIFY(dialog.errorText().isEmpty());
    QCOMPARE(dialog.settings().overrides, (QStringList{QStringLiteral("topk=4"), QStringLiteral("n_local=2048")}));
  }

  void settingsDialogRejectsAMissingModelAndABadDevice() {
    SettingsDialog dialog(AppSettings{});
    dialog.modelEdit()->setText(fx_->path(QStringLiteral("missing-model")));
    dialog.accept();
    QCOMPARE(dialog.result(), int(QDialog::Rejected));
    QVERIFY(dialog.errorText().contains(QStringLiteral("missing-model")));
  }

  void presetsComeFromTheConfigFolder() {
    const auto presets = available_presets();
    QStringList labels;
    for (const auto& p : presets) labels << p.label;
    QVERIFY2(labels.contains(QStringLiteral("smollm2-qllm")), qPrintable(labels.join(',')));
    QVERIFY(labels.contains(QStringLiteral("default")));
    QVERIFY(labels.contains(QStringLiteral("Q-LLM (built-in)")));
    AppSettings s;
    for (const auto& p : presets)
      if (p.label == QStringLiteral("smollm2-qllm")) s.preset = p.id;
    s.overrides = {QStringLiteral("topk=4")};
    const auto config = run_config(s);
    QCOMPARE(config.chunk_size, std::int64_t(2048));
    QCOMPARE(config.attention.topk, std::int64_t(4));
    // Compare keeps the preset's settings and swaps the mode.
    const auto stream = ask_options(s, qread::MemoryMode::stream_llm);
    QCOMPARE(stream.config.attention.mode, qread::MemoryMode::stream_llm);
    QCOMPARE(stream.config.attention.n_local, std::int64_t(1024));
  }

  void settingsPersistWithQSettings() {
    AppSettings s;
    s.model_path = QStringLiteral("/models/tiny");
    s.preset = QStringLiteral("mode:inf-llm");
    s.overrides = {QStringLiteral("topk=2")};
    s.max_new_tokens = 77;
    s.temperature = 0.7;
    s.device = QStringLiteral("cuda");
    AppSettings::remember(s.recent_documents, QStringLiteral("/a.pdf"));
    AppSettings::remember(s.recent_documents, QStringLiteral("/b.pdf"));
    AppSettings::remember(s.recent_documents, QStringLiteral("/a.pdf"));
    {
      QSettings settings;
      s.save(settings);
    }
    QSettings settings;
    const AppSettings back = AppSettings::load(settings);
    QCOMPARE(back.model_path, s.model_path);
    QCOMPARE(back.preset, s.preset);
    QCOMPARE(back.overrides, s.overrides);
    QCOMPARE(back.max_new_tokens, 77);
    QCOMPARE(back.temperature, 0.7);
    QCOMPARE(back.device, QStringLiteral("cuda"));
    QCOMPARE(back.recent_documents, (QStringList{QStringLiteral("/a.pdf"), QStringLiteral("/b.pdf")}));
  }

  void answerStoreKeepsAnswersPerDocument() {
    AnswerStore store(fx_->path(QStringLiteral("store")));
    QVERIFY(store.load(QStringLiteral("/docs/one.pdf")).empty());
    QVERIFY(store.append(QStringLiteral("/docs/one.pdf"), sample_answer("first?", "qllm")));
    QVERIFY(store.append(QStringLiteral("/docs/one.pdf"), sample_answer("second?", "inf-llm")));
    QVERIFY(store.append(QStringLiteral("/docs/two.pdf"), sample_answer("other?", "qllm")));
    const auto one = store.load(QStringLiteral("/docs/one.pdf"));
    QCOMPARE(one.size(), std::size_t(2));
    QCOMPARE(one[1].question, std::string("second?"));
    QCOMPARE(store.load(QStringLiteral("/docs/two.pdf")).size(), std::size_t(1));
    // A damaged file is set aside, not overwritten, and reported.
    QVERIFY(qread::test::UiFixture::write(store.fileFor(QStringLiteral("/docs/two.pdf")), "{not json"));
    QString error;
    QVERIFY(store.load(QStringLiteral("/docs/two.pdf"), &error).empty());
    QVERIFY(!error.isEmpty());
    QVERIFY(store.append(QStringLiteral("/docs/two.pdf"), sample_answer("again?", "qllm")));
    QCOMPARE(store.load(QStringLiteral("/docs/two.pdf")).size(), std::size_t(1));
    QVERIFY(QFile::exists(store.fileFor(QStringLiteral("/docs/two.pdf")) + QStringLiteral(".unreadable")));
  }

  void exportsThreeFormatsThatReadBack() {
    const std::vector<qread::Answer> answers{sample_answer("Where is the river?", "qllm"),
                                             sample_answer("Who runs the press?", "stream-llm")};
    const QString json = fx_->path(QStringLiteral("x.json")), md = fx_->path(QStringLiteral("x.md")),
                  pdf = fx_->path(QStringLiteral("x.pdf"));
    for (const QString& path : {json, md, pdf}) {
      QString error;
      QVERIFY2(export_answers(answers, QStringLiteral("Answers"), export_format_of(path), path, &error), qPrintable(error));
    }
    QFile jf(json);
    QVERIFY(jf.open(QIODevice::ReadOnly));
    const auto back = qread::answers_from_json(jf.readAll().toStdString());
    QCOMPARE(back.size(), std::size_t(2));
    QCOMPARE(back[1].mode, std::string("stream-llm"));
    QCOMPARE(back[0].prefill_progress, answers[0].prefill_progress);

    QFile mf(md);
    QVERIFY(mf.open(QIODevice::ReadOnly));
    const QString markdown = QString::fromUtf8(mf.readAll());
    QVERIFY(markdown.startsWith(QStringLiteral("# Answers\n")));
    QVERIFY(markdown.contains(QStringLiteral("## 1. Where is the river?\n")));
    QVERIFY(markdown.contains(QStringLiteral("## 2. Who runs the press?\n")));
    QVERIFY(markdown.contains(QStringLiteral("> The river town; pages 3 and 4.")));
    QVERIFY(markdown.contains(QStringLiteral("- **Cited pages:** 3 (12), 4 (5)")));
    QVERIFY(markdown.contains(QStringLiteral("prefill 1.500 s")));

    const auto doc = Poppler::Document::load(pdf);
    QVERIFY(doc);
    QString text;
    for (int i = 0; i < doc->numPages(); ++i) text += doc->page(i)->text(QRectF());
    QVERIFY2(text.contains(QStringLiteral("Where is the river?")), qPrintable(text.left(300)));
    QVERIFY(text.contains(QStringLiteral("Who runs the press?")));
    QVERIFY(text.contains(QStringLiteral("p. 3 (12)")));
  }

  void formatsReadWell() {
    QCOMPARE(format_seconds(0.25), QStringLiteral("250 ms"));
    QCOMPARE(format_seconds(12.34), QStringLiteral("12.3 s"));
    QCOMPARE(format_seconds(125), QStringLiteral("2 min 05 s"));
    const auto a = sample_answer("q", "qllm");
    QCOMPARE(cited_pages_text(a), QStringLiteral("3 (12), 4 (5)"));
    QVERIFY(answer_html(a, true).contains(QStringLiteral("href='page:3'")));
    QVERIFY(!answer_html(a, false).contains(QStringLiteral("href=")));
  }
};

QTEST_MAIN(TestSettingsExport)
#include "test_settings_export.moc"
