// Where an answer's time went (Qt Charts): seconds per phase (tokenize, prefill, decode), the
// reading speed across prefill, and the GPU block cache (hit rate, bytes copied to the GPU).
#pragma once

#include "engine_types.hpp"

#include <QWidget>

class QChartView;
class QLabel;

namespace qread::ui {

class TimingPanel : public QWidget {
  Q_OBJECT
 public:
  explicit TimingPanel(QWidget* parent = nullptr);
  void setAnswer(const AnswerPtr& answer);

  // Tokens per second between successive progress samples (x: tokens read), what the speed
  // chart plots. Samples closer than `min_seconds` are merged.
  static QList<QPointF> reading_speed(const Answer& answer, double min_seconds = 0.05);

 private:
  QChartView* phases_ = nullptr;
  QChartView* speed_ = nullptr;
  QChartView* cache_ = nullptr;
  QLabel* facts_ = nullptr;
};

}  // namespace qread::ui
