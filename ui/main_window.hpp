#pragma once

#include <QMainWindow>

class QLabel;

namespace qread::ui {

// The application window. For now: menus, the window icon and a status bar that says what
// the engine will run on; the document, question and answer panes come with the GUI issue.
class MainWindow : public QMainWindow {
  Q_OBJECT
 public:
  explicit MainWindow(QWidget* parent = nullptr);

  // The status bar's text: qread and LibTorch versions, device, threads.
  QString runtimeSummary() const;
  // The text of Help > About.
  QString aboutText() const;

 public Q_SLOTS:
  void showAbout();

 private:
  QLabel* runtime_label_ = nullptr;
};

}  // namespace qread::ui
