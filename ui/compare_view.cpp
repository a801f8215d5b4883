#include "compare_view.hpp"

#include "answer_format.hpp"
#include "app_settings.hpp"

#include <QCheckBox>
#include <QFrame>
#include <QHBoxLayout>
#include <QLabel>
#include <QPushButton>
#include <QScrollArea>
#include <QTextBrowser>
#include <QVBoxLayout>

namespace qread::ui {

CompareView::CompareView(QWidget* parent) : QWidget(parent) {
  auto* picks = new QHBoxLayout;
  picks->addWidget(new QLabel(tr("Modes:"), this));
  for (MemoryMode mode : all_modes()) {
    auto* box = new QCheckBox(mode_label(mode), this);
    box->setProperty("mode", QString::fromLatin1(mode_name(mode)));
    box->setChecked(mode == MemoryMode::qllm || mode == MemoryMode::inf_llm || mode == MemoryMode::stream_llm);
    mode_boxes_.append(box);
    picks->addWidget(box);
  }
  picks->addStretch(1);
  run_ = new QPushButton(tr("Compare"), this);
  run_->setObjectName(QStringLiteral("compareRun"));
  run_->setToolTip(tr("Answer the question with each mode picked, one after another"));
  picks->addWidget(run_);
  question_ = new QLabel(tr("Pick modes, type a question above and press Compare."), this);
  question_->setWordWrap(true);

  columns_area_ = new QWidget;
  columns_layout_ = new QHBoxLayout(columns_area_);
  columns_layout_->setContentsMargins(0, 0, 0, 0);
  auto* scroll = new QScrollArea(this);
  scroll->setWidgetResizable(true);
  scroll->setFrameShape(QFrame::NoFrame);
  scroll->setWidget(columns_area_);

  auto* layout = new QVBoxLayout(this);
  layout->addLayout(picks);
  layout->addWidget(question_);
  layout->addWidget(scroll, 1);
  connect(run_, &QPushButton::clicked, this, &CompareView::runRequested);
}

QList<MemoryMode> CompareView::selectedModes() const {
  QList<MemoryMode> modes;
  for (auto* box : mode_boxes_)
    if (box->isChecked()) modes.append(*parse_mode(box->property("mode").toString().toStdString()));
  return modes;
}

void CompareView::setSelectedModes(const QList<MemoryMode>& modes) {
  for (auto* box : mode_boxes_) box->setChecked(modes.contains(*parse_mode(box->property("mode").toString().toStdString())));
}

void CompareView::setRunning(bool running) { run_->setEnabled(!running); }

void CompareView::begin(const QString& question, const QList<MemoryMode>& modes) {
  for (Column& c : columns_) delete c.box;
  columns_.clear();
  question_->setText(tr("<b>%1</b>").arg(question.toHtmlEscaped()));
  for (MemoryMode mode : modes) {
    Column c;
    c.box = new QFrame(columns_area_);
    static_cast<QFrame*>(c.box)->setFrameShape(QFrame::StyledPanel);
    c.box->setMinimumWidth(230);
    auto* v = new QVBoxLayout(c.box);
    c.title = new QLabel(QStringLiteral("<b>%1</b> <span style='color:#888'>waiting</span>").arg(mode_label(mode)), c.box);
    c.text = new QTextBrowser(c.box);
    c.text->setOpenLinks(false);
    c.metrics = new QLabel(c.box);
    c.metrics->setTextFormat(Qt::RichText);
    c.metrics->setWordWrap(true);
    c.metrics->setTextInteractionFlags(Qt::TextBrowserInteraction);
    connect(c.metrics, &QLabel::linkActivated, this, [this](const QString& link) {
      if (link.startsWith(QStringLiteral("page:"))) Q_EMIT pageRequested(link.mid(5).toInt());
    });
    v->addWidget(c.title);
    v->addWidget(c.text, 1);
    v->addWidget(c.metrics);
    columns_layout_->addWidget(c.box, 1);
    columns_.push_back(c);
  }
}

void CompareView::columnStarted(int index) {
  if (index < 0 || index >= columnCount()) return;
  Column& c = columns_[std::size_t(index)];
  c.title->setText(c.title->text().replace(QStringLiteral("waiting"), tr("reading…")));
}

void CompareView::appendText(int index, const QString& piece) {
  if (index < 0 || index >= columnCount()) return;
  QTextBrowser* text = columns_[std::size_t(index)].text;
  QTextCursor cursor(text->document());
  cursor.movePosition(QTextCursor::End);
  cursor.insertText(piece);
}

void CompareView::setAnswer(int index, const AnswerPtr& answer) {
  if (index < 0 || index >= columnCount() || !answer) return;
  Column& c = columns_[std::size_t(index)];
  c.answer = answer;
  const auto mode = parse_mode(answer->mode);
  c.title->setText(QStringLiteral("<b>%1</b> <span style='color:#888'>%2</span>")
                       .arg(mode ? mode_label(*mode) : QString::fromStdString(answer->mode),
                            QString::fromStdString(answer->stop_reason)));
  if (answer->stop_reason == "error") {
    c.text->setHtml(QStringLiteral("<p style='color:#b00020'>%1</p>").arg(QString::fromStdString(answer->error).toHtmlEscaped()));
    c.metrics->clear();
    return;
  }
  c.text->setPlainText(QString::fromStdString(answer->text));
  QStringList pages;
  for (std::size_t i = 0; i < answer->cited_pages.size() && i < 6; ++i)
    pages << QStringLiteral("<a href='page:%1'>%1</a>").arg(answer->cited_pages[i].page);
  const double decode_rate = answer->decode_seconds > 0 ? double(answer->answer_tokens) / answer->decode_seconds : 0;
  c.metrics->setText(tr("<table>"
                        "<tr><td>prefill</td><td align='right'>%1</td></tr>"
                        "<tr><td>reading</td><td align='right'>%2</td></tr>"
                        "<tr><td>decode</td><td align='right'>%3</td></tr>"
                        "<tr><td>answering</td><td align='right'>%4</td></tr>"
                        "<tr><td>host peak</td><td align='right'>%5</td></tr>"
                        "<tr><td>GPU peak</td><td align='right'>%6</td></tr>"
                        "<tr><td>pages</td><td align='right'>%7</td></tr>"
                        "</table>")
                         .arg(format_seconds(answer->prefill_seconds), format_rate(answer->prefill_tokens_per_second()),
                              format_seconds(answer->decode_seconds), format_rate(decode_rate),
                              format_bytes(answer->host_peak_bytes), format_bytes(answer->gpu_peak_bytes),
                              pages.isEmpty() ? tr("none") : pages.join(QStringLiteral(", "))));
}

QString CompareView::answerText(int index) const {
  return index >= 0 && index < columnCount() ? columns_[std::size_t(index)].text->toPlainText() : QString();
}
QString CompareView::metricsText(int index) const {
  return index >= 0 && index < columnCount() ? columns_[std::size_t(index)].metrics->text() : QString();
}
AnswerPtr CompareView::answer(int index) const {
  return index >= 0 && index < columnCount() ? columns_[std::size_t(index)].answer : nullptr;
}

}  // namespace qread::ui
