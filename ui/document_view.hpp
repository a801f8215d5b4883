// The document pane: PDF pages rendered by poppler-qt6, or the text of a .txt/.md file, with
// page navigation, zoom, text search and a highlighted passage (a memory block the hit map
// points at). The engine's Document (text + page map) says where pages and passages are; the
// PDF itself is opened here only to draw it.
#pragma once

#include "engine_types.hpp"

#include <QList>
#include <QRectF>
#include <QWidget>

#include <memory>

class QComboBox;
class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QScrollArea;
class QSpinBox;
class QStackedWidget;
class QToolButton;

namespace Poppler {
class Document;
}

namespace qread::ui {

class PdfPageWidget;

class DocumentView : public QWidget {
  Q_OBJECT
 public:
  explicit DocumentView(QWidget* parent = nullptr);
  ~DocumentView() override;

  // Shows `document` (its first page). Returns false with `error` set if the PDF cannot be
  // drawn (the text is then shown instead).
  bool setDocument(const DocumentPtr& document, QString* error = nullptr);
  const DocumentPtr& document() const { return document_; }
  void clear();

  int currentPage() const { return page_; }  // 1-based; 0 without a document
  int pageCount() const;
  double zoom() const { return zoom_; }      // 1.0 = 100 %
  bool isPdf() const { return pdf_ != nullptr; }

  // The passage [text_begin, text_end) (bytes of Document::text()): shows its page and
  // highlights it. Returns the page shown.
  int showPassage(std::size_t text_begin, std::size_t text_end);
  // Highlighted rectangles on the current PDF page, in points; for text: the highlighted
  // character range as QRectF(begin, 0, length, 0).
  QList<QRectF> highlights() const;

 public Q_SLOTS:
  void showPage(int page);
  void nextPage() { showPage(page_ + 1); }
  void previousPage() { showPage(page_ - 1); }
  void setZoom(double zoom);  // <= 0: fit the width
  // Finds `text` after the current match (or before, backwards); wraps around. Returns
  // whether it was found.
  bool find(const QString& text, bool backwards = false);

 Q_SIGNALS:
  void pageChanged(int page);

 protected:
  void resizeEvent(QResizeEvent* event) override;

 private:
  void render();
  void updateControls();
  int charOfByte(std::size_t offset) const;
  int pageOfChar(int position) const;  // 1-based
  // Word boxes of the page's words [first, last) (word counts from the page's text).
  QList<QRectF> wordBoxes(int page, int first_word, int last_word) const;
  // Highlights characters [begin, end) of text_ on `page` (0: the page of `begin`).
  void highlightChars(int begin, int end, int page = 0);

  DocumentPtr document_;
  std::unique_ptr<Poppler::Document> pdf_;
  QString text_;                  // Document::text() as UTF-16
  QList<int> page_char_begin_;    // each page's first character in text_
  int page_ = 0;
  double zoom_ = 0;               // <= 0: fit width
  bool positioning_ = false;     // showPage is scrolling the text view
  int match_ = -1;                // character position of the current search match
  QList<QRectF> highlights_;
  int highlight_begin_ = -1, highlight_end_ = -1;

  QToolButton *previous_ = nullptr, *next_ = nullptr;
  QSpinBox* page_box_ = nullptr;
  QLabel* page_count_ = nullptr;
  QComboBox* zoom_box_ = nullptr;
  QLineEdit* search_ = nullptr;
  QLabel* search_status_ = nullptr;
  QStackedWidget* stack_ = nullptr;
  QLabel* placeholder_ = nullptr;
  QScrollArea* scroll_ = nullptr;
  PdfPageWidget* pdf_page_ = nullptr;
  QPlainTextEdit* text_view_ = nullptr;
};

}  // namespace qread::ui
