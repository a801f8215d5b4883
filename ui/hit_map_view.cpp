#include "hit_map_view.hpp"

#include "answer_format.hpp"

#include <QComboBox>
#include <QHBoxLayout>
#include <QHelpEvent>
#include <QLabel>
#include <QMouseEvent>
#include <QPainter>
#include <QToolTip>
#include <QVBoxLayout>

#include <algorithm>
#include <array>
#include <cmath>

namespace qread::ui {

QColor heat_colour(std::int64_t count, std::int64_t max) {
  if (count <= 0 || max <= 0) return QColor(244, 244, 246);
  // A sequential scale from pale yellow through orange to deep purple (log-ish: sqrt).
  static const std::array<QColor, 5> stops = {QColor(255, 240, 170), QColor(253, 174, 97), QColor(230, 85, 60),
                                              QColor(160, 30, 90), QColor(70, 10, 90)};
  const double t = std::sqrt(double(count) / double(max)) * double(stops.size() - 1);
  const int i = std::min(int(t), int(stops.size()) - 2);
  const double f = t - i;
  const QColor a = stops[std::size_t(i)], b = stops[std::size_t(i) + 1];
  return QColor::fromRgbF(float(a.redF() + (b.redF() - a.redF()) * f), float(a.greenF() + (b.greenF() - a.greenF()) * f),
                          float(a.blueF() + (b.blueF() - a.blueF()) * f));
}

class HitMapCanvas : public QWidget {
 public:
  explicit HitMapCanvas(HitMapView* view) : QWidget(view), view_(view) {
    setMouseTracking(true);
    setMinimumSize(300, 160);
    setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Expanding);
  }

  static constexpr int kLeft = 56, kTop = 8, kRight = 70, kBottom = 34;

  int layers() const { return view_->answer_ ? int(view_->answer_->hit_map.layers) : 0; }
  int blocks() const { return view_->answer_ ? int(view_->answer_->hit_map.blocks.size()) : 0; }
  QRectF grid() const { return QRectF(kLeft, kTop, width() - kLeft - kRight, height() - kTop - kBottom); }

  QRect cellRect(int layer, int block) const {
    const QRectF g = grid();
    const double w = g.width() / std::max(1, blocks()), h = g.height() / std::max(1, layers());
    return QRectF(g.left() + block * w, g.top() + layer * h, w, h).toAlignedRect();
  }
  // (layer, block) under `pos`, or (-1, -1).
  std::pair<int, int> cellAt(QPointF pos) const {
    const QRectF g = grid();
    if (!g.contains(pos) || blocks() == 0 || layers() == 0) return {-1, -1};
    const int block = std::clamp(int((pos.x() - g.left()) / g.width() * blocks()), 0, blocks() - 1);
    const int layer = std::clamp(int((pos.y() - g.top()) / g.height() * layers()), 0, layers() - 1);
    return {layer, block};
  }

 protected:
  void paintEvent(QPaintEvent*) override {
    QPainter p(this);
    p.fillRect(rect(), palette().base());
    const QRectF g = grid();
    if (blocks() == 0 || layers() == 0) {
      p.setPen(palette().color(QPalette::PlaceholderText));
      p.drawText(rect(), Qt::AlignCenter | Qt::TextWordWrap,
                 view_->answer_ ? tr("This answer has no memory blocks: only InfLLM and Q-LLM keep them.")
                                : tr("Ask a question: the memory blocks the model retrieved appear here."));
      return;
    }
    const double w = g.width() / blocks(), h = g.height() / layers();
    for (int layer = 0; layer < layers(); ++layer)
      for (int block = 0; block < blocks(); ++block)
        p.fillRect(QRectF(g.left() + block * w, g.top() + layer * h, w + 0.5, h + 0.5),
                   heat_colour(view_->hits(layer, block), view_->max_hits_));
    if (hover_.first >= 0) {
      p.setPen(QPen(palette().color(QPalette::Highlight), 2));
      p.setBrush(Qt::NoBrush);
      p.drawRect(cellRect(hover_.first, hover_.second).adjusted(0, 0, -1, -1));
    }
    p.setPen(palette().color(QPalette::Text));
    p.drawRect(g);
    // Layers on the left, every few.
    const QFontMetrics fm(font());
    const int layer_step = std::max(1, int(std::ceil(fm.height() * 1.2 / h)));
    for (int layer = 0; layer < layers(); layer += layer_step)
      p.drawText(QRectF(0, g.top() + layer * h, kLeft - 6, std::max(h, double(fm.height()))), Qt::AlignRight | Qt::AlignTop,
                 QString::number(layer));
    p.save();
    p.translate(12, g.center().y());
    p.rotate(-90);
    p.drawText(QRectF(-60, -10, 120, 20), Qt::AlignCenter, tr("layer"));
    p.restore();
    // Pages along the bottom, at the blocks where a new page starts.
    const auto& blocks_info = view_->answer_->hit_map.blocks;
    double last_x = -1e9;
    int last_page = -1;
    for (int block = 0; block < blocks(); ++block) {
      const int page = blocks_info[std::size_t(block)].pages.first;
      if (page <= 0 || page == last_page) continue;
      const double x = g.left() + block * w;
      if (x - last_x < fm.horizontalAdvance(QStringLiteral("0000")) + 6) continue;
      p.drawLine(QPointF(x, g.bottom()), QPointF(x, g.bottom() + 4));
      p.drawText(QPointF(x + 2, g.bottom() + fm.ascent() + 4), QString::number(page));
      last_x = x;
      last_page = page;
    }
    p.drawText(QRectF(g.left(), g.bottom() + fm.height() + 4, g.width(), fm.height()), Qt::AlignCenter,
               tr("document position (page) →"));
    // Legend.
    const QRectF legend(g.right() + 14, g.top(), 14, std::min(g.height(), 160.0));
    for (int y = 0; y < int(legend.height()); ++y) {
      const double t = 1.0 - double(y) / legend.height();
      p.fillRect(QRectF(legend.left(), legend.top() + y, legend.width(), 1),
                 heat_colour(std::max<std::int64_t>(1, std::llround(t * double(view_->max_hits_))), view_->max_hits_));
    }
    p.drawRect(legend);
    p.drawText(QPointF(legend.right() + 4, legend.top() + fm.ascent()), QString::number(view_->max_hits_));
    p.drawText(QPointF(legend.right() + 4, legend.bottom()), QStringLiteral("1"));
  }

  bool event(QEvent* e) override {
    if (e->type() == QEvent::ToolTip) {
      auto* help = static_cast<QHelpEvent*>(e);
      const auto [layer, block] = cellAt(help->pos());
      if (layer >= 0)
        QToolTip::showText(help->globalPos(), view_->describe(layer, block), this, cellRect(layer, block));
      else
        QToolTip::hideText();
      return true;
    }
    return QWidget::event(e);
  }
  void mouseMoveEvent(QMouseEvent* e) override {
    const auto cell = cellAt(e->position());
    if (cell != hover_) {
      hover_ = cell;
      update();
    }
  }
  void leaveEvent(QEvent*) override {
    hover_ = {-1, -1};
    update();
  }
  void mousePressEvent(QMouseEvent* e) override {
    const auto [layer, block] = cellAt(e->position());
    if (layer < 0 || e->button() != Qt::LeftButton) return;
    Q_EMIT view_->blockClicked(block, view_->answer_->hit_map.blocks[std::size_t(block)].pages.first);
  }

 private:
  HitMapView* view_;
  std::pair<int, int> hover_{-1, -1};
};

HitMapView::HitMapView(QWidget* parent) : QWidget(parent) {
  source_ = new QComboBox(this);
  source_->setObjectName(QStringLiteral("hitSource"));
  source_->addItem(tr("Retrieved while answering"));
  source_->addItem(tr("Retrieved while reading"));
  summary_ = new QLabel(this);
  summary_->setWordWrap(true);
  canvas_ = new HitMapCanvas(this);
  auto* top = new QHBoxLayout;
  top->addWidget(summary_, 1);
  top->addWidget(source_);
  auto* layout = new QVBoxLayout(this);
  layout->addLayout(top);
  layout->addWidget(canvas_, 1);
  connect(source_, &QComboBox::currentIndexChanged, this, [this] { setAnswer(answer_, document_); });
  setAnswer(nullptr, nullptr);
}

bool HitMapView::showsReading() const { return source_->currentIndex() == 1; }
void HitMapView::setShowsReading(bool reading) { source_->setCurrentIndex(reading ? 1 : 0); }

std::int64_t HitMapView::hits(int layer, int block) const {
  const HitMap& map = answer_->hit_map;
  return showsReading() ? map.read(layer, std::size_t(block)) : map.answer(layer, std::size_t(block));
}

void HitMapView::setAnswer(const AnswerPtr& answer, const DocumentPtr& document) {
  answer_ = answer;
  document_ = document;
  max_hits_ = 0;
  if (answer_ && !answer_->hit_map.empty()) {
    const auto& counts = showsReading() ? answer_->hit_map.read_hits : answer_->hit_map.answer_hits;
    for (auto c : counts) max_hits_ = std::max(max_hits_, c);
    summary_->setText(tr("<b>%1</b> · %2 memory blocks × %3 layers · drew most on pages %4 · click a cell to see "
                         "the passage")
                          .arg(QString::fromStdString(answer_->question).toHtmlEscaped().left(80))
                          .arg(answer_->hit_map.blocks.size())
                          .arg(answer_->hit_map.layers)
                          .arg(cited_pages_text(*answer_, 5)));
  } else {
    summary_->setText(answer_ ? tr("<b>%1</b> · no memory blocks (mode %2)")
                                    .arg(QString::fromStdString(answer_->question).toHtmlEscaped().left(80),
                                         QString::fromStdString(answer_->mode))
                              : tr("No answer yet."));
  }
  canvas_->update();
}

QRect HitMapView::cellRect(int layer, int block) const { return canvas_->cellRect(layer, block); }
QWidget* HitMapView::canvas() const { return canvas_; }

QString HitMapView::firstWords(int block, int words) const {
  if (!document_) return {};
  const MemoryBlock& b = answer_->hit_map.blocks[std::size_t(block)];
  const std::string& text = document_->text();
  if (b.text_begin >= b.text_end || b.text_end > text.size()) return {};
  const QString passage = QString::fromUtf8(text.data() + b.text_begin, qsizetype(std::min<std::size_t>(b.text_end - b.text_begin, 400)));
  const QStringList parts = passage.simplified().split(QLatin1Char(' '), Qt::SkipEmptyParts);
  QString out = parts.mid(0, words).join(QLatin1Char(' '));
  if (parts.size() > words) out += QStringLiteral("…");
  return out;
}

QString HitMapView::describe(int layer, int block) const {
  if (!answer_ || block < 0 || std::size_t(block) >= answer_->hit_map.blocks.size()) return {};
  const MemoryBlock& b = answer_->hit_map.blocks[std::size_t(block)];
  const QString pages = b.pages.first == 0 ? tr("prompt template") : QString::fromStdString(to_string(b.pages));
  QString words = firstWords(block);
  return tr("<b>Block %1</b> · %2 · tokens %3–%4<br>layer %5: %6 retrievals%7")
      .arg(block)
      .arg(pages)
      .arg(b.token_begin)
      .arg(b.token_end)
      .arg(layer)
      .arg(hits(layer, block))
      .arg(words.isEmpty() ? QString() : QStringLiteral("<br><i>%1</i>").arg(words.toHtmlEscaped()));
}

}  // namespace qread::ui
