#include "main_window.hpp"

#include "qread/runtime.hpp"

#include <QApplication>
#include <QLabel>
#include <QMenuBar>
#include <QMessageBox>
#include <QStatusBar>

namespace qread::ui {

namespace {
QString describe(const RuntimeInfo& info) {
  QString device = info.gpus.empty()
                       ? QStringLiteral("CPU")
                       : QStringLiteral("CUDA: %1").arg(QString::fromStdString(info.gpus.front().name));
  return QStringLiteral("qread %1 · LibTorch %2 · %3 · %4 threads")
      .arg(QString::fromStdString(info.qread_version), QString::fromStdString(info.torch_version),
           device)
      .arg(info.intra_op_threads);
}
}  // namespace

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent) {
  setWindowTitle(QStringLiteral("qread"));
  setWindowIcon(QIcon(QStringLiteral(":/icons/qread.svg")));
  resize(1200, 800);

  auto* file = menuBar()->addMenu(tr("&File"));
  file->addAction(tr("&Quit"), QKeySequence::Quit, qApp, &QApplication::quit);
  auto* help = menuBar()->addMenu(tr("&Help"));
  help->addAction(tr("&About qread"), this, &MainWindow::showAbout);

  auto* placeholder = new QLabel(tr("Open a document to begin."), this);
  placeholder->setAlignment(Qt::AlignCenter);
  setCentralWidget(placeholder);

  init_runtime();
  runtime_label_ = new QLabel(describe(runtime_info()), this);
  statusBar()->addPermanentWidget(runtime_label_);
}

QString MainWindow::runtimeSummary() const { return runtime_label_->text(); }

QString MainWindow::aboutText() const {
  return tr("<h3>qread %1</h3><p>Ask questions about long documents with a local LLM, using "
            "query-aware context memory (Q-LLM).</p><p>%2</p>")
      .arg(QString::fromStdString(runtime_info().qread_version), runtimeSummary());
}

void MainWindow::showAbout() { QMessageBox::about(this, tr("About qread"), aboutText()); }

}  // namespace qread::ui
