// The block hit map of an answer: memory blocks in document order across, layers down, each
// cell coloured by how often that layer retrieved that block (while answering, or while
// reading). Hovering a cell tells the block's pages and first words; clicking it asks the
// document pane to show the passage.
#pragma once

#include "engine_types.hpp"

#include <QWidget>

class QComboBox;
class QLabel;

namespace qread::ui {

class HitMapCanvas;

class HitMapView : public QWidget {
  Q_OBJECT
 public:
  explicit HitMapView(QWidget* parent = nullptr);

  // `document` (may be null) gives the blocks' first words.
  void setAnswer(const AnswerPtr& answer, const DocumentPtr& document);
  const AnswerPtr& answer() const { return answer_; }
  bool showsReading() const;
  void setShowsReading(bool reading);

  // For tests and tooltips: the cell of (layer, block) in the canvas's coordinates, and the
  // canvas itself.
  QRect cellRect(int layer, int block) const;
  QWidget* canvas() const;
  // "Block 3 · pages 4-5 · tokens 192-256 · 12 retrievals in layer 1: first words…"
  QString describe(int layer, int block) const;

 Q_SIGNALS:
  void blockClicked(int block, int page);

 private:
  friend class HitMapCanvas;
  std::int64_t hits(int layer, int block) const;
  QString firstWords(int block, int words = 12) const;

  AnswerPtr answer_;
  DocumentPtr document_;
  QComboBox* source_ = nullptr;
  QLabel* summary_ = nullptr;
  HitMapCanvas* canvas_ = nullptr;
  std::int64_t max_hits_ = 0;
};

// Colour of a count on the map's scale (0: background; max: darkest).
QColor heat_colour(std::int64_t count, std::int64_t max);

}  // namespace qread::ui
