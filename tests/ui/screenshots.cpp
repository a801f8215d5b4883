// qread-ui-screenshots: drives the real main window under Xvfb (or offscreen) and saves the
// pictures of docs/screenshots/: the main window with a streamed answer, the hit map after
// clicking its hottest cell, the timing panel and a comparison of modes.
//   qread-ui-screenshots --model M --doc D --question Q --out DIR [--preset FILE]
//                        [--set key=value]... [--compare qllm,inf-llm,stream-llm] [--max-new-tokens N]
#include "compare_view.hpp"
#include "document_view.hpp"
#include "hit_map_view.hpp"
#include "main_window.hpp"
#include "timing_panel.hpp"

#include <QApplication>
#include <QCommandLineParser>
#include <QDir>
#include <QPlainTextEdit>
#include <QSignalSpy>
#include <QTabWidget>
#include <QTemporaryDir>
#include <QTest>

#include <cstdio>

using namespace qread::ui;

namespace {

bool save(QWidget& window, const QString& path) {
  QApplication::processEvents();
  QTest::qWait(300);
  const bool ok = window.grab().save(path);
  std::fprintf(stderr, "%s %s\n", ok ? "saved" : "could not save", qPrintable(path));
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  QTemporaryDir home;  // settings and autosaves of this run only
  qputenv("XDG_CONFIG_HOME", home.filePath(QStringLiteral("config")).toUtf8());
  qputenv("XDG_DATA_HOME", home.filePath(QStringLiteral("data")).toUtf8());
  QApplication app(argc, argv);
  QApplication::setOrganizationName(QStringLiteral("qread-screenshots"));
  QApplication::setApplicationName(QStringLiteral("qread"));
  QCommandLineParser parser;
  parser.addHelpOption();
  const QCommandLineOption model(QStringLiteral("model"), QStringLiteral("model"), QStringLiteral("path"));
  const QCommandLineOption doc(QStringLiteral("doc"), QStringLiteral("document"), QStringLiteral("path"));
  const QCommandLineOption question(QStringLiteral("question"), QStringLiteral("question"), QStringLiteral("text"));
  const QCommandLineOption out(QStringLiteral("out"), QStringLiteral("output folder"), QStringLiteral("dir"));
  const QCommandLineOption preset(QStringLiteral("preset"), QStringLiteral("preset id"), QStringLiteral("id"),
                                  QStringLiteral("mode:qllm"));
  const QCommandLineOption set(QStringLiteral("set"), QStringLiteral("override"), QStringLiteral("key=value"));
  const QCommandLineOption compare(QStringLiteral("compare"), QStringLiteral("modes"), QStringLiteral("list"),
                                   QStringLiteral("qllm,inf-llm,stream-llm"));
  const QCommandLineOption max_new(QStringLiteral("max-new-tokens"), QStringLiteral("tokens"), QStringLiteral("n"),
                                   QStringLiteral("48"));
  const QCommandLineOption page(QStringLiteral("page"), QStringLiteral("page to show in the main shot"), QStringLiteral("n"),
                                QStringLiteral("0"));
  parser.addOptions({model, doc, question, out, preset, set, compare, max_new, page});
  parser.process(app);
  const QString folder = parser.value(out);
  QDir().mkpath(folder);

  MainWindow window;
  window.resize(1600, 1000);
  window.show();
  if (!QTest::qWaitForWindowExposed(&window)) std::fprintf(stderr, "window not exposed\n");
  AppSettings s = window.settings();
  s.model_path = parser.value(model);
  s.preset = parser.value(preset);
  s.overrides = parser.values(set);
  s.max_new_tokens = parser.value(max_new).toInt();
  window.setSettings(s);
  {
    QSignalSpy opened(&window, &MainWindow::documentOpened);
    window.openDocument(parser.value(doc));
    if (!opened.wait(600000)) return 1;
  }
  window.questionEdit()->setPlainText(parser.value(question));
  QSignalSpy finished(&window, &MainWindow::answerFinished);
  window.ask();
  // A picture while reading, for the progress bar.
  QTest::qWait(4000);
  save(window, folder + QStringLiteral("/reading.png"));
  if (!finished.wait(1800000)) return 2;
  const AnswerPtr answer = finished.first().first().value<AnswerPtr>();
  std::fprintf(stderr, "answer (%s): %s\n", answer->stop_reason.c_str(), answer->text.c_str());
  if (!answer->cited_pages.empty()) window.documentView()->showPage(answer->cited_pages.front().page);
  if (parser.value(page).toInt() > 0) window.documentView()->showPage(parser.value(page).toInt());
  save(window, folder + QStringLiteral("/main-window.png"));

  // Hit map: click the block retrieved most (summed over layers) past the first page (the first
  // block, the attention sink, is retrieved by every layer).
  window.tabs()->setCurrentWidget(window.hitMapView());
  if (!answer->hit_map.empty()) {
    const auto& map = answer->hit_map;
    std::size_t best = 0;
    std::int64_t best_hits = -1;
    for (std::size_t b = 0; b < map.blocks.size(); ++b) {
      std::int64_t hits = 0;
      for (std::int64_t l = 0; l < map.layers; ++l) hits += map.answer(l, b);
      if (map.blocks[b].text_end > map.blocks[b].text_begin && map.blocks[b].pages.first > 1 && hits > best_hits)
        best = b, best_hits = hits;
    }
    QApplication::processEvents();
    const int layer = int(map.layers / 2);
    QTest::mouseClick(window.hitMapView()->canvas(), Qt::LeftButton, {}, window.hitMapView()->cellRect(layer, int(best)).center());
    QTest::mouseMove(window.hitMapView()->canvas(), window.hitMapView()->cellRect(layer, int(best)).center());
  }
  save(window, folder + QStringLiteral("/hit-map.png"));
  window.tabs()->setCurrentWidget(window.timingPanel());
  save(window, folder + QStringLiteral("/timing.png"));

  // Compare.
  QList<qread::MemoryMode> modes;
  for (const QString& m : parser.value(compare).split(QLatin1Char(','), Qt::SkipEmptyParts))
    if (auto mode = qread::parse_mode(m.toStdString())) modes.append(*mode);
  if (!modes.isEmpty()) {
    window.compareView()->setSelectedModes(modes);
    QSignalSpy done(&window, &MainWindow::jobDone);
    window.compare();
    if (!done.wait(3600000)) return 3;
    save(window, folder + QStringLiteral("/compare.png"));
  }
  return 0;
}
