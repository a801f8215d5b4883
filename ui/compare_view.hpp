// Compare: one question answered by several modes, one after another on the engine thread,
// shown in side-by-side columns: the answer, prefill and decode time, tokens/s, peak memory and
// the pages retrieved.
#pragma once

#include "engine_types.hpp"

#include <QWidget>

class QCheckBox;
class QHBoxLayout;
class QLabel;
class QPushButton;
class QTextBrowser;

namespace qread::ui {

class CompareView : public QWidget {
  Q_OBJECT
 public:
  explicit CompareView(QWidget* parent = nullptr);

  QList<MemoryMode> selectedModes() const;
  void setSelectedModes(const QList<MemoryMode>& modes);

  // Starts a comparison of `modes`: one empty column each.
  void begin(const QString& question, const QList<MemoryMode>& modes);
  void columnStarted(int index);
  void appendText(int index, const QString& piece);
  void setAnswer(int index, const AnswerPtr& answer);
  void setRunning(bool running);

  int columnCount() const { return int(columns_.size()); }
  QString answerText(int index) const;
  QString metricsText(int index) const;
  AnswerPtr answer(int index) const;

 Q_SIGNALS:
  void runRequested();
  void pageRequested(int page);

 private:
  struct Column {
    QWidget* box = nullptr;
    QLabel* title = nullptr;
    QTextBrowser* text = nullptr;
    QLabel* metrics = nullptr;
    AnswerPtr answer;
  };
  QList<QCheckBox*> mode_boxes_;
  QPushButton* run_ = nullptr;
  QLabel* question_ = nullptr;
  QWidget* columns_area_ = nullptr;
  QHBoxLayout* columns_layout_ = nullptr;
  std::vector<Column> columns_;
};

}  // namespace qread::ui
