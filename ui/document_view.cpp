#include "document_view.hpp"

#include <poppler-qt6.h>

#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPainter>
#include <QPlainTextEdit>
#include <QScrollArea>
#include <QScrollBar>
#include <QSpinBox>
#include <QStackedWidget>
#include <QTextBlock>
#include <QToolButton>
#include <QVBoxLayout>

#include <algorithm>

namespace qread::ui {

// One rendered PDF page with highlighted rectangles (in points) drawn over it.
class PdfPageWidget : public QWidget {
 public:
  using QWidget::QWidget;

  void setPage(QImage image, double pixels_per_point) {
    image_ = std::move(image);
    scale_ = pixels_per_point;
    const QSize logical = (QSizeF(image_.size()) / image_.devicePixelRatio()).toSize();
    setFixedSize(logical);
    update();
  }
  void setHighlights(QList<QRectF> points) {
    highlights_ = std::move(points);
    update();
  }
  QRect toWidget(const QRectF& points) const {
    return QRectF(points.x() * scale_, points.y() * scale_, points.width() * scale_, points.height() * scale_)
        .toAlignedRect();
  }

 protected:
  void paintEvent(QPaintEvent*) override {
    QPainter p(this);
    p.fillRect(rect(), Qt::white);
    p.drawImage(QPoint(0, 0), image_);
    p.setPen(QPen(QColor(230, 120, 0), 1));
    p.setBrush(QColor(255, 200, 0, 90));
    for (const QRectF& r : highlights_) p.drawRect(toWidget(r).adjusted(-2, -1, 2, 1));
  }

 private:
  QImage image_;
  double scale_ = 1;
  QList<QRectF> highlights_;
};

namespace {

int count_words(QStringView text) {
  int words = 0;
  bool in_word = false;
  for (QChar c : text) {
    const bool space = c.isSpace();
    if (!space && !in_word) ++words;
    in_word = !space;
  }
  return words;
}

// Boxes of consecutive words on one line merged into one.
QList<QRectF> merge_lines(const QList<QRectF>& words) {
  QList<QRectF> lines;
  for (const QRectF& w : words) {
    if (!lines.isEmpty()) {
      QRectF& last = lines.last();
      const bool same_line = std::abs(w.center().y() - last.center().y()) < std::max(w.height(), last.height()) / 2;
      if (same_line && w.left() >= last.left() - 1) {
        last = last.united(w);
        continue;
      }
    }
    lines.append(w);
  }
  return lines;
}

}  // namespace

DocumentView::DocumentView(QWidget* parent) : QWidget(parent) {
  auto* bar = new QHBoxLayout;
  bar->setContentsMargins(4, 2, 4, 2);
  previous_ = new QToolButton(this);
  previous_->setArrowType(Qt::LeftArrow);
  previous_->setToolTip(tr("Previous page"));
  next_ = new QToolButton(this);
  next_->setArrowType(Qt::RightArrow);
  next_->setToolTip(tr("Next page"));
  page_box_ = new QSpinBox(this);
  page_box_->setObjectName(QStringLiteral("pageBox"));
  page_box_->setKeyboardTracking(false);
  page_box_->setToolTip(tr("Go to page"));
  page_count_ = new QLabel(this);
  zoom_box_ = new QComboBox(this);
  zoom_box_->setObjectName(QStringLiteral("zoomBox"));
  zoom_box_->addItem(tr("Fit width"), 0.0);
  for (int percent : {50, 75, 100, 125, 150, 200, 300}) zoom_box_->addItem(QStringLiteral("%1 %").arg(percent), percent / 100.0);
  zoom_box_->setToolTip(tr("Zoom"));
  search_ = new QLineEdit(this);
  search_->setObjectName(QStringLiteral("searchBox"));
  search_->setPlaceholderText(tr("Find in document…"));
  search_->setClearButtonEnabled(true);
  search_status_ = new QLabel(this);
  search_status_->setMinimumWidth(80);
  bar->addWidget(previous_);
  bar->addWidget(page_box_);
  bar->addWidget(page_count_);
  bar->addWidget(next_);
  bar->addSpacing(12);
  bar->addWidget(zoom_box_);
  bar->addStretch(1);
  bar->addWidget(search_, 2);
  bar->addWidget(search_status_);

  stack_ = new QStackedWidget(this);
  placeholder_ = new QLabel(tr("<p style='font-size:15pt;color:#666'>Open a PDF, text or Markdown file</p>"
                               "<p style='color:#888'>File ▸ Open (Ctrl+O), or drop a file on this window.</p>"),
                            this);
  placeholder_->setAlignment(Qt::AlignCenter);
  scroll_ = new QScrollArea(this);
  scroll_->setAlignment(Qt::AlignHCenter | Qt::AlignTop);
  scroll_->setBackgroundRole(QPalette::Dark);
  pdf_page_ = new PdfPageWidget;
  scroll_->setWidget(pdf_page_);
  text_view_ = new QPlainTextEdit(this);
  text_view_->setReadOnly(true);
  text_view_->setObjectName(QStringLiteral("documentText"));
  stack_->addWidget(placeholder_);
  stack_->addWidget(scroll_);
  stack_->addWidget(text_view_);

  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->setSpacing(0);
  layout->addLayout(bar);
  layout->addWidget(stack_, 1);

  connect(previous_, &QToolButton::clicked, this, &DocumentView::previousPage);
  connect(next_, &QToolButton::clicked, this, &DocumentView::nextPage);
  connect(page_box_, &QSpinBox::valueChanged, this, &DocumentView::showPage);
  connect(zoom_box_, &QComboBox::currentIndexChanged, this,
          [this](int index) { setZoom(zoom_box_->itemData(index).toDouble()); });
  connect(search_, &QLineEdit::returnPressed, this, [this] { find(search_->text()); });
  connect(search_, &QLineEdit::textChanged, this, [this] {
    match_ = -1;
    search_status_->clear();
  });
  connect(text_view_->verticalScrollBar(), &QScrollBar::valueChanged, this, [this] {
    if (pdf_ || !document_ || positioning_) return;
    const int page = pageOfChar(text_view_->cursorForPosition(QPoint(4, 4)).position());
    if (page != page_) {
      page_ = page;
      updateControls();
      Q_EMIT pageChanged(page_);
    }
  });
  updateControls();
}

DocumentView::~DocumentView() = default;

int DocumentView::pageCount() const { return document_ ? int(document_->pages().size()) : 0; }

void DocumentView::clear() {
  document_.reset();
  pdf_.reset();
  text_.clear();
  page_char_begin_.clear();
  page_ = 0;
  highlights_.clear();
  stack_->setCurrentWidget(placeholder_);
  updateControls();
}

bool DocumentView::setDocument(const DocumentPtr& document, QString* error) {
  clear();
  if (!document) return true;
  document_ = document;
  const std::string& bytes = document->text();
  text_ = QString::fromStdString(bytes);
  for (const Page& page : document->pages()) page_char_begin_.append(charOfByte(page.begin));
  bool drawn = true;
  if (document->kind() == DocumentKind::pdf) {
    pdf_ = Poppler::Document::load(QString::fromStdString(document->source().string()));
    if (!pdf_ || pdf_->isLocked()) {
      pdf_.reset();
      drawn = false;
      if (error) *error = tr("%1 cannot be drawn; its text is shown instead.").arg(QString::fromStdString(document->source().string()));
    } else {
      pdf_->setRenderHint(Poppler::Document::Antialiasing);
      pdf_->setRenderHint(Poppler::Document::TextAntialiasing);
    }
  }
  if (pdf_) {
    stack_->setCurrentWidget(scroll_);
  } else {
    text_view_->setPlainText(text_);
    stack_->setCurrentWidget(text_view_);
  }
  page_ = 0;
  showPage(1);
  return drawn;
}

int DocumentView::charOfByte(std::size_t offset) const {
  const std::string& bytes = document_->text();
  offset = std::min(offset, bytes.size());
  return int(QString::fromUtf8(bytes.data(), qsizetype(offset)).size());
}

int DocumentView::pageOfChar(int position) const {
  const auto it = std::upper_bound(page_char_begin_.begin(), page_char_begin_.end(), position);
  return std::max(1, int(it - page_char_begin_.begin()));
}

void DocumentView::showPage(int page) {
  if (!document_ || pageCount() == 0) return;
  page = std::clamp(page, 1, pageCount());
  const bool changed = page != page_;
  if (changed) {
    page_ = page;
    highlights_.clear();
  }
  if (pdf_) {
    if (changed) {
      render();
      scroll_->verticalScrollBar()->setValue(0);
    }
  } else if (changed) {
    positioning_ = true;  // the scroll handler would take the pages passed on the way for the page shown
    QTextCursor cursor(text_view_->document());
    cursor.setPosition(page_char_begin_.value(page - 1));
    text_view_->setTextCursor(cursor);
    // Put the page's first line at the top.
    text_view_->verticalScrollBar()->setValue(text_view_->verticalScrollBar()->maximum());
    text_view_->ensureCursorVisible();
    positioning_ = false;
  }
  updateControls();
  if (changed) Q_EMIT pageChanged(page_);
}

void DocumentView::setZoom(double zoom) {
  zoom_ = zoom;
  const int index = zoom_box_->findData(zoom);
  if (index >= 0 && index != zoom_box_->currentIndex()) {
    const QSignalBlocker block(zoom_box_);
    zoom_box_->setCurrentIndex(index);
  }
  if (pdf_) {
    render();
  } else {
    QFont font = text_view_->font();
    font.setPointSizeF(10.0 * (zoom > 0 ? zoom : 1.0));
    text_view_->setFont(font);
  }
}

void DocumentView::resizeEvent(QResizeEvent* event) {
  QWidget::resizeEvent(event);
  if (pdf_ && zoom_ <= 0) render();
}

void DocumentView::render() {
  if (!pdf_ || page_ < 1) return;
  const std::unique_ptr<Poppler::Page> page = pdf_->page(page_ - 1);
  if (!page) return;
  const QSizeF points = page->pageSizeF();
  double zoom = zoom_;
  if (zoom <= 0) {
    const int width = scroll_->viewport()->width() - 16;
    zoom = points.width() > 0 ? std::clamp(double(width) / points.width(), 0.2, 4.0) : 1.0;
  }
  const double ratio = devicePixelRatioF();
  QImage image = page->renderToImage(72.0 * zoom * ratio, 72.0 * zoom * ratio);
  image.setDevicePixelRatio(ratio);
  pdf_page_->setPage(std::move(image), zoom);
  pdf_page_->setHighlights(highlights_);
}

void DocumentView::updateControls() {
  const bool has = document_ && pageCount() > 0;
  {
    const QSignalBlocker block(page_box_);
    page_box_->setRange(has ? 1 : 0, has ? pageCount() : 0);
    page_box_->setValue(page_);
  }
  page_count_->setText(has ? tr("of %1").arg(pageCount()) : QString());
  previous_->setEnabled(has && page_ > 1);
  next_->setEnabled(has && page_ < pageCount());
  page_box_->setEnabled(has);
  zoom_box_->setEnabled(has);
  search_->setEnabled(has);
}

QList<QRectF> DocumentView::wordBoxes(int page, int first_word, int last_word) const {
  QList<QRectF> boxes;
  const std::unique_ptr<Poppler::Page> p = pdf_->page(page - 1);
  if (!p) return boxes;
  const auto words = p->textList();
  if (words.empty()) return boxes;
  first_word = std::clamp(first_word, 0, int(words.size()) - 1);
  last_word = std::clamp(last_word, first_word + 1, int(words.size()));
  for (int i = first_word; i < last_word; ++i) boxes.append(words[std::size_t(i)]->boundingBox());
  return merge_lines(boxes);
}

void DocumentView::highlightChars(int begin, int end, int page) {
  highlight_begin_ = begin;
  highlight_end_ = end;
  if (page <= 0) page = pageOfChar(begin);
  if (pdf_) {
    showPage(page);
    const int page_begin = page_char_begin_.value(page - 1);
    const int page_end = page < pageCount() ? page_char_begin_.value(page) : int(text_.size());
    const int from = std::max(begin, page_begin);
    const int to = std::clamp(end, from, page_end);
    const int first = count_words(QStringView(text_).mid(page_begin, from - page_begin));
    const int count = std::max(1, count_words(QStringView(text_).mid(from, to - from)));
    highlights_ = wordBoxes(page, first, first + count);
    pdf_page_->setHighlights(highlights_);
    if (!highlights_.isEmpty()) {
      const QRect r = pdf_page_->toWidget(highlights_.first());
      scroll_->ensureVisible(r.center().x(), r.top(), 50, 120);
    }
    updateControls();
  } else {
    showPage(page);
    QList<QTextEdit::ExtraSelection> selections;
    QTextEdit::ExtraSelection selection;
    selection.cursor = QTextCursor(text_view_->document());
    selection.cursor.setPosition(begin);
    selection.cursor.setPosition(end, QTextCursor::KeepAnchor);
    selection.format.setBackground(QColor(255, 215, 0, 140));
    selections.append(selection);
    text_view_->setExtraSelections(selections);
    QTextCursor at(text_view_->document());
    at.setPosition(begin);
    text_view_->setTextCursor(at);
    text_view_->centerCursor();
    highlights_ = {QRectF(begin, 0, end - begin, 0)};
  }
}

int DocumentView::showPassage(std::size_t text_begin, std::size_t text_end) {
  if (!document_) return 0;
  // The engine's page of the passage: a passage that starts on a page separator begins on the
  // next page.
  const std::size_t end = std::max(text_begin, text_end);
  int page = 0;
  try {
    page = document_->pages_of_range(text_begin, end).first;
  } catch (const std::exception&) {
    return page_;  // outside the document: an answer about another version of the file
  }
  highlightChars(charOfByte(text_begin), charOfByte(end), page);
  return page_;
}

QList<QRectF> DocumentView::highlights() const { return highlights_; }

bool DocumentView::find(const QString& text, bool backwards) {
  if (!document_ || text.isEmpty()) return false;
  int at = -1;
  if (backwards) {
    const int from = match_ > 0 ? match_ - 1 : -1;
    at = text_.lastIndexOf(text, from, Qt::CaseInsensitive);
    if (at < 0) at = text_.lastIndexOf(text, -1, Qt::CaseInsensitive);
  } else {
    const int from = match_ >= 0 ? match_ + 1 : page_char_begin_.value(std::max(page_, 1) - 1);
    at = text_.indexOf(text, from, Qt::CaseInsensitive);
    if (at < 0) at = text_.indexOf(text, 0, Qt::CaseInsensitive);
  }
  if (at < 0) {
    search_status_->setText(tr("not found"));
    return false;
  }
  match_ = at;
  search_status_->setText(tr("page %1").arg(pageOfChar(at)));
  highlightChars(at, at + int(text.size()));
  return true;
}

}  // namespace qread::ui
