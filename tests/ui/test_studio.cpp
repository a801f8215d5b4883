// The desktop app driven as a user would, with a tiny model on the real engine thread: open a
// PDF and a text file, ask and watch the answer stream, compare two modes, click the hit map,
// export, reopen a document and get its saved answers back, see errors as dialogs.
#include "ui_fixtures.hpp"

#include "compare_view.hpp"
#include "document_view.hpp"
#include "engine.hpp"
#include "hit_map_view.hpp"
#include "main_window.hpp"
#include "qread/session.hpp"

#include <poppler-qt6.h>

#include <QDragEnterEvent>
#include <QDropEvent>
#include <QFile>
#include <QMimeData>
#include <QLabel>
#include <QListWidget>
#include <QMessageBox>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QRegularExpression>
#include <QStatusBar>
#include <QTabWidget>
#include <QTextBrowser>
#include <QtTest>

using namespace qread::ui;

class TestStudio : public QObject {
  Q_OBJECT
  std::unique_ptr<qread::test::UiFixture> fx_;

  AppSettings tinySettings() const {
    AppSettings s;
    s.model_path = fx_->model();
    s.preset = QStringLiteral("mode:qllm");
    s.overrides = qread::test::tiny_qllm_overrides();
    s.max_new_tokens = 8;
    return s;
  }

  static bool openAndWait(MainWindow& window, const QString& path) {
    QSignalSpy opened(&window, &MainWindow::documentOpened);
    window.openDocument(path);
    return opened.wait(60000);
  }

  // Asks `question` through the question box and the Ask button; returns the answer.
  static AnswerPtr askAndWait(MainWindow& window, const QString& question) {
    QSignalSpy finished(&window, &MainWindow::answerFinished);
    QObject::connect(&window, &MainWindow::errorShown, [](const QString& title, const QString& message) {
      qWarning("error dialog: %s: %s", qPrintable(title), qPrintable(message));
    });
    window.questionEdit()->setPlainText(question);
    auto* button = window.findChild<QPushButton*>(QStringLiteral("ask"));
    if (!QTest::qWaitFor([&] { return button->isEnabled(); }, 30000)) {  // the last job's end
      qWarning("the Ask button stayed disabled");
      return nullptr;
    }
    QTest::mouseClick(button, Qt::LeftButton);
    if (!finished.wait(120000)) {
      qWarning("no answer within 120 s");
      return nullptr;
    }
    return finished.first().first().value<AnswerPtr>();
  }

 private Q_SLOTS:
  void initTestCase() {
    fx_ = std::make_unique<qread::test::UiFixture>();
    const QString error = fx_->make();
    QVERIFY2(error.isEmpty(), qPrintable(error));
  }

  void opensPdfWithPagesZoomAndSearch() {
    MainWindow window;
    window.show();
    QVERIFY(openAndWait(window, fx_->pdf()));
    DocumentView* view = window.documentView();
    QVERIFY(view->isPdf());
    QCOMPARE(view->pageCount(), 6);
    QCOMPARE(view->currentPage(), 1);
    QVERIFY(window.windowTitle().startsWith(QStringLiteral("book.pdf")));
    view->nextPage();
    QCOMPARE(view->currentPage(), 2);
    view->showPage(99);
    QCOMPARE(view->currentPage(), 6);
    view->setZoom(1.5);
    QCOMPARE(view->zoom(), 1.5);
    // Search finds the marker of page 4 and highlights it there.
    QVERIFY(view->find(QStringLiteral("marker page4")));
    QCOMPARE(view->currentPage(), 4);
    QVERIFY(!view->highlights().isEmpty());
    QVERIFY(!view->find(QStringLiteral("no such words anywhere")));
    QVERIFY(window.settings().recent_documents.contains(fx_->pdf()));
  }

  void droppingAFileOpensIt() {
    MainWindow window;
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    QSignalSpy opened(&window, &MainWindow::documentOpened);
    QMimeData data;
    data.setUrls({QUrl::fromLocalFile(fx_->text())});
    QDragEnterEvent enter(QPoint(50, 50), Qt::CopyAction, &data, Qt::LeftButton, Qt::NoModifier);
    QApplication::sendEvent(&window, &enter);
    QVERIFY(enter.isAccepted());
    QDropEvent drop(QPointF(50, 50), Qt::CopyAction, &data, Qt::LeftButton, Qt::NoModifier);
    QApplication::sendEvent(&window, &drop);
    QVERIFY(opened.wait(60000));
    QCOMPARE(opened.first().first().toString(), fx_->text());
    QVERIFY(!window.documentView()->isPdf());
  }

  void opensTextFile() {
    MainWindow window;
    QVERIFY(openAndWait(window, fx_->text()));
    DocumentView* view = window.documentView();
    QVERIFY(!view->isPdf());
    QVERIFY(view->pageCount() >= 2);
    auto* text = view->findChild<QPlainTextEdit*>(QStringLiteral("documentText"));
    QVERIFY(text);
    QVERIFY(text->toPlainText().startsWith(QStringLiteral("The reader opened the book")));
    view->showPage(2);
    QCOMPARE(view->currentPage(), 2);
    QVERIFY(view->find(QStringLiteral("printers")));
  }

  void asksAndStreamsTheAnswerThroughTheWorkerThread() {
    MainWindow window;
    window.show();
    window.setSettings(tinySettings());
    QVERIFY(openAndWait(window, fx_->pdf()));
    QVERIFY(window.engine().thread_of_worker() != QThread::currentThread());
    QString streamed;
    bool all_on_gui_thread = true;
    int reading_reports = 0;
    connect(&window.engine(), &Engine::textPiece, this, [&](int, int, const QString& piece) {
      streamed += piece;
      all_on_gui_thread = all_on_gui_thread && QThread::currentThread() == qApp->thread();
    });
    connect(&window.engine(), &Engine::reading, this, [&](int, int, qint64 done, qint64 total, double) {
      QVERIFY(done <= total);
      ++reading_reports;
    });
    const AnswerPtr answer = askAndWait(window, QStringLiteral("What did the reader write in the margin?"));
    QVERIFY(answer);
    QVERIFY2(answer->stop_reason == "eos" || answer->stop_reason == "max_new_tokens", answer->stop_reason.c_str());
    QCOMPARE(answer->mode, std::string("qllm"));
    QVERIFY(answer->answer_tokens >= 1);
    QCOMPARE(streamed, QString::fromStdString(answer->text));
    QVERIFY(all_on_gui_thread);
    QVERIFY(reading_reports >= 1);
    QVERIFY(window.answerView()->toPlainText().contains(QString::fromStdString(answer->text).trimmed()));
    QVERIFY(!answer->hit_map.empty());
    QVERIFY(!answer->cited_pages.empty());
    QCOMPARE(window.sessionAnswers().size(), std::size_t(1));
    QCOMPARE(window.findChild<QListWidget*>(QStringLiteral("history"))->count(), 1);
    // Autosaved as it completed.
    const auto saved = window.answerStore().load(fx_->pdf());
    QCOMPARE(saved.size(), std::size_t(1));
    QCOMPARE(saved[0].text, answer->text);
  }

  void cancelsMidReadWithinASecond() {
    MainWindow window;
    window.show();
    AppSettings s = tinySettings();
    s.overrides << QStringLiteral("chunk_size=256");
    window.setSettings(s);
    const QString long_text = fx_->makeText(QStringLiteral("long.txt"), 30);
    QVERIFY(openAndWait(window, long_text));
    QElapsedTimer clock;
    qint64 total = 0;
    bool cancelled = false;
    connect(&window.engine(), &Engine::reading, this, [&](int, int, qint64 done, qint64 all, double) {
      total = all;
      if (!cancelled && done < all) {
        cancelled = true;
        clock.start();
        QTest::mouseClick(window.cancelButton(), Qt::LeftButton);
      }
    });
    const AnswerPtr answer = askAndWait(window, QStringLiteral("What is the story about?"));
    QVERIFY(answer);
    QVERIFY2(cancelled, "no reading progress before the end");
    const qint64 ms = clock.elapsed();
    qInfo("cancelled after reading started; stopped %lld ms later (prompt %lld tokens)", ms, total);
    QCOMPARE(answer->stop_reason, std::string("cancelled"));
    QVERIFY2(ms < 1000, qPrintable(QStringLiteral("%1 ms").arg(ms)));
    QVERIFY(answer->answer_tokens == 0);
    // The window is usable again.
    QTRY_VERIFY(window.findChild<QPushButton*>(QStringLiteral("ask"))->isEnabled());
    QVERIFY(!window.cancelButton()->isEnabled());
  }

  void comparesTwoModesSideBySide() {
    MainWindow window;
    window.show();
    window.setSettings(tinySettings());
    QVERIFY(openAndWait(window, fx_->pdf()));
    window.compareView()->setSelectedModes({qread::MemoryMode::qllm, qread::MemoryMode::stream_llm});
    window.questionEdit()->setPlainText(QStringLiteral("Who wanted to run the press?"));
    QSignalSpy done(&window, &MainWindow::jobDone);
    QSignalSpy answers(&window, &MainWindow::answerFinished);
    QTest::mouseClick(window.findChild<QPushButton*>(QStringLiteral("compareRun")), Qt::LeftButton);
    QVERIFY(done.wait(120000));
    QCOMPARE(answers.size(), 2);
    CompareView* compare = window.compareView();
    QCOMPARE(compare->columnCount(), 2);
    QCOMPARE(window.tabs()->currentWidget(), compare);
    for (int i = 0; i < 2; ++i) {
      const AnswerPtr a = compare->answer(i);
      QVERIFY(a);
      QVERIFY2(a->stop_reason != "error", a->error.c_str());
      QCOMPARE(compare->answerText(i), QString::fromStdString(a->text));
      QVERIFY(compare->metricsText(i).contains(QStringLiteral("prefill")));
      QVERIFY(compare->metricsText(i).contains(QStringLiteral("tok/s")));
    }
    QCOMPARE(compare->answer(0)->mode, std::string("qllm"));
    QCOMPARE(compare->answer(1)->mode, std::string("stream-llm"));
    QVERIFY(!compare->answer(0)->cited_pages.empty());
    QVERIFY(compare->answer(1)->cited_pages.empty());  // StreamingLLM keeps no memory blocks
    QVERIFY(compare->metricsText(0).contains(QStringLiteral("page:")));
    QCOMPARE(window.sessionAnswers().size(), std::size_t(2));
  }

  void clickingAHitMapCellShowsItsPage() {
    MainWindow window;
    window.resize(1600, 1000);
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    window.setSettings(tinySettings());
    QVERIFY(openAndWait(window, fx_->pdf()));
    const AnswerPtr answer = askAndWait(window, QStringLiteral("What did the reader promise?"));
    QVERIFY(answer);
    window.tabs()->setCurrentWidget(window.hitMapView());
    HitMapView* map = window.hitMapView();
    QCOMPARE(map->answer(), answer);
    // A block on a page other than the one shown (1), in the last layer.
    int block = -1;
    for (std::size_t b = 0; b < answer->hit_map.blocks.size(); ++b)
      if (answer->hit_map.blocks[b].pages.first >= 3) {
        block = int(b);
        break;
      }
    QVERIFY2(block >= 0, "no memory block past page 2");
    const int layer = int(answer->hit_map.layers) - 1;
    const QRect cell = map->cellRect(layer, block);
    QVERIFY(cell.width() >= 1 && cell.height() >= 1);
    QVERIFY(map->describe(layer, block).contains(QStringLiteral("page")));
    QTest::mouseClick(map->canvas(), Qt::LeftButton, {}, cell.center());
    const qread::MemoryBlock& b = answer->hit_map.blocks[std::size_t(block)];
    QCOMPARE(window.documentView()->currentPage(), b.pages.first);
    QVERIFY(!window.documentView()->highlights().isEmpty());
    // Cited pages in the answer pane are links to the document.
    QVERIFY(window.answerView()->toHtml().contains(QStringLiteral("page:%1").arg(answer->cited_pages.front().page)));
  }

  void exportsMarkdownJsonAndPdf() {
    MainWindow window;
    window.setSettings(tinySettings());
    QVERIFY(openAndWait(window, fx_->pdf()));
    QVERIFY(askAndWait(window, QStringLiteral("Where did the family live?")));
    QVERIFY(askAndWait(window, QStringLiteral("How many pages had she read by October?")));
    const auto& session = window.sessionAnswers();
    QCOMPARE(session.size(), std::size_t(2));

    const QString json = fx_->path(QStringLiteral("answers.json"));
    QVERIFY(window.exportAnswers(json));
    QFile jf(json);
    QVERIFY(jf.open(QIODevice::ReadOnly));
    const auto back = qread::answers_from_json(jf.readAll().toStdString());
    QCOMPARE(back.size(), std::size_t(2));
    for (std::size_t i = 0; i < 2; ++i) {
      QCOMPARE(back[i].question, session[i]->question);
      QCOMPARE(back[i].text, session[i]->text);
      QCOMPARE(back[i].cited_pages, session[i]->cited_pages);
      QCOMPARE(back[i].config_yaml, session[i]->config_yaml);
    }

    const QString md = fx_->path(QStringLiteral("answers.md"));
    QVERIFY(window.exportAnswers(md));
    QFile mf(md);
    QVERIFY(mf.open(QIODevice::ReadOnly));
    const QString markdown = QString::fromUtf8(mf.readAll());
    static const QRegularExpression heading(QStringLiteral("^## (\\d+)\\. (.+)$"), QRegularExpression::MultilineOption);
    QStringList questions;
    for (auto it = heading.globalMatch(markdown); it.hasNext();) questions << it.next().captured(2);
    QCOMPARE(questions, (QStringList{QStringLiteral("Where did the family live?"),
                                     QStringLiteral("How many pages had she read by October?")}));
    QCOMPARE(markdown.count(QStringLiteral("- **Mode:** qllm")), 2);
    QVERIFY(markdown.contains(QStringLiteral("- **Cited pages:** %1 (").arg(session[0]->cited_pages.front().page)));
    QVERIFY(markdown.contains(QStringLiteral("n_local: 128")));

    const QString pdf = fx_->path(QStringLiteral("answers.pdf"));
    QVERIFY(window.exportAnswers(pdf));
    const auto doc = Poppler::Document::load(pdf);
    QVERIFY(doc);
    QVERIFY(doc->numPages() >= 1);
    QString text;
    for (int i = 0; i < doc->numPages(); ++i) text += doc->page(i)->text(QRectF());
    QVERIFY2(text.contains(QStringLiteral("Where did the family live?")), qPrintable(text.left(400)));
    QVERIFY(text.contains(QStringLiteral("How many pages had she read by October?")));
    QVERIFY(text.contains(QStringLiteral("Drew on")));
  }

  void reopeningADocumentOffersItsSavedAnswers() {
    const QString doc = fx_->makeText(QStringLiteral("reopen.txt"), 2);
    {
      MainWindow window;
      window.setSettings(tinySettings());
      QVERIFY(openAndWait(window, doc));
      QVERIFY(!window.savedAnswersBar()->isVisibleTo(&window));
      QVERIFY(askAndWait(window, QStringLiteral("Who opened the book?")));
    }  // closed: the answer was saved as it completed
    MainWindow window;
    window.show();
    QVERIFY(openAndWait(window, doc));
    QVERIFY(window.savedAnswersBar()->isVisibleTo(&window));
    QVERIFY(window.sessionAnswers().empty());
    QTest::mouseClick(window.savedAnswersBar()->findChild<QPushButton*>(QStringLiteral("showSaved")), Qt::LeftButton);
    QCOMPARE(window.sessionAnswers().size(), std::size_t(1));
    QCOMPARE(window.sessionAnswers()[0]->question, std::string("Who opened the book?"));
    QVERIFY(window.answerView()->toPlainText().contains(QStringLiteral("Who opened the book?")));
  }

  void errorsAppearAsDialogsAndTheAppKeepsRunning() {
    MainWindow window;
    window.show();
    QSignalSpy errors(&window, &MainWindow::errorShown);
    // A bad model folder.
    window.setModel(fx_->path(QStringLiteral("no-such-model")));
    QVERIFY(errors.wait(30000));
    QCOMPARE(errors.last().at(0).toString(), QStringLiteral("Cannot load the model"));
    QVERIFY(errors.last().at(1).toString().contains(QStringLiteral("no-such-model")));
    QTRY_VERIFY(window.findChild<QMessageBox*>(QStringLiteral("errorDialog")));
    // A damaged PDF.
    const QString broken = fx_->path(QStringLiteral("broken.pdf"));
    QVERIFY(qread::test::UiFixture::write(broken, "%PDF-1.4\nthis is not a PDF at all\n"));
    window.openDocument(broken);
    QVERIFY(errors.wait(30000));
    QVERIFY(errors.last().at(0).toString().startsWith(QStringLiteral("Cannot open broken.pdf")));
    // Asking without a document says so.
    window.ask();
    QVERIFY(errors.last().at(0).toString() == QStringLiteral("No document"));
    // Still working: a good document opens, and the model loads.
    QVERIFY(openAndWait(window, fx_->pdf()));
    QSignalSpy loaded(&window.engine(), &Engine::modelLoaded);
    window.setModel(fx_->model());
    QVERIFY(loaded.wait(30000));
    for (auto* box : window.findChildren<QMessageBox*>()) box->close();
  }
};

QTEST_MAIN(TestStudio)
#include "test_studio.moc"
