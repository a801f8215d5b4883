#include "main_window.hpp"
#include "qread/runtime.hpp"

#include <QLabel>
#include <QAction>
#include <QMenuBar>
#include <QStatusBar>
#include <QtTest>

class TestMainWindow : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void showsRuntimeInStatusBar() {
    qread::ui::MainWindow window;
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    QCOMPARE(window.windowTitle(), QStringLiteral("qread"));
    QVERIFY(!window.windowIcon().isNull());
    // The engine thread reports what it runs on shortly after start.
    QTRY_VERIFY_WITH_TIMEOUT(!window.runtimeSummary().isEmpty(), 20000);
    const QString summary = window.runtimeSummary();
    QVERIFY2(summary.startsWith("qread " QREAD_EXPECTED_VERSION), qPrintable(summary));
    QVERIFY(summary.contains("LibTorch"));
    QVERIFY2(summary.contains(QStringLiteral("%1 threads").arg(qread::available_cpu_cores())),
             qPrintable(summary));
    // The summary is what the status bar shows.
    bool found = false;
    for (auto* label : window.statusBar()->findChildren<QLabel*>())
      found = found || label->text() == summary;
    QVERIFY(found);
  }

  void menusOfferAboutAndQuit() {
    qread::ui::MainWindow window;
    QStringList actions;
    for (auto* menu : window.menuBar()->findChildren<QMenu*>())
      for (auto* action : menu->actions()) actions << action->text().remove('&');
    QVERIFY2(actions.contains("Quit"), qPrintable(actions.join(',')));
    QVERIFY(actions.contains("About qread"));
    QVERIFY(actions.contains("Open document…"));
    QVERIFY(actions.contains("Settings…"));
    QVERIFY(window.aboutText().contains("qread " QREAD_EXPECTED_VERSION));
  }
};

QTEST_MAIN(TestMainWindow)
#include "test_main_window.moc"
