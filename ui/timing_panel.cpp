#include "timing_panel.hpp"

#include "answer_format.hpp"

#include <QBarCategoryAxis>
#include <QBarSet>
#include <QChart>
#include <QChartView>
#include <QGridLayout>
#include <QHorizontalBarSeries>
#include <QLabel>
#include <QLineSeries>
#include <QPieSeries>
#include <QPieSlice>
#include <QValueAxis>

#include <algorithm>

namespace qread::ui {

namespace {

QChart* new_chart(const QString& title) {
  auto* chart = new QChart;
  chart->setTitle(title);
  chart->setAnimationOptions(QChart::NoAnimation);
  chart->legend()->setVisible(false);
  chart->setMargins(QMargins(4, 4, 4, 4));
  return chart;
}

QChartView* new_view(QWidget* parent) {
  auto* view = new QChartView(new_chart(QString()), parent);
  view->setRenderHint(QPainter::Antialiasing);
  view->setMinimumHeight(180);
  return view;
}

// The view owns its chart until another replaces it; then the old one is ours to delete.
void replace_chart(QChartView* view, QChart* chart) {
  QChart* old = view->chart();
  view->setChart(chart);
  delete old;
}

}  // namespace

TimingPanel::TimingPanel(QWidget* parent) : QWidget(parent) {
  phases_ = new_view(this);
  speed_ = new_view(this);
  cache_ = new_view(this);
  facts_ = new QLabel(this);
  facts_->setWordWrap(true);
  facts_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  auto* layout = new QGridLayout(this);
  layout->addWidget(facts_, 0, 0, 1, 2);
  layout->addWidget(phases_, 1, 0);
  layout->addWidget(cache_, 1, 1);
  layout->addWidget(speed_, 2, 0, 1, 2);
  layout->setRowStretch(1, 1);
  layout->setRowStretch(2, 1);
  setAnswer(nullptr);
}

QList<QPointF> TimingPanel::reading_speed(const Answer& answer, double min_seconds) {
  QList<QPointF> points;
  PrefillSample last{0, 0};
  for (const PrefillSample& s : answer.prefill_progress) {
    const double dt = s.seconds - last.seconds;
    if (s.tokens <= last.tokens || dt < min_seconds) continue;
    points.append(QPointF(double(s.tokens), double(s.tokens - last.tokens) / dt));
    last = s;
  }
  return points;
}

void TimingPanel::setAnswer(const AnswerPtr& answer) {
  // Phases.
  auto* phases = new_chart(tr("Time per phase (s)"));
  auto* set = new QBarSet(tr("seconds"));
  auto* categories = new QBarCategoryAxis;
  categories->append({tr("tokenize"), tr("prefill"), tr("decode")});
  if (answer) *set << answer->tokenize_seconds << answer->prefill_seconds << answer->decode_seconds;
  set->setColor(QColor(60, 110, 180));
  auto* bars = new QHorizontalBarSeries;
  bars->append(set);
  bars->setLabelsVisible(true);
  bars->setLabelsFormat(QStringLiteral("@value"));
  bars->setLabelsPrecision(3);
  phases->addSeries(bars);
  auto* seconds = new QValueAxis;
  seconds->setLabelFormat(QStringLiteral("%.2f"));
  phases->addAxis(categories, Qt::AlignLeft);
  phases->addAxis(seconds, Qt::AlignBottom);
  bars->attachAxis(categories);
  bars->attachAxis(seconds);
  if (answer) {
    seconds->setRange(0, std::max({answer->tokenize_seconds, answer->prefill_seconds, answer->decode_seconds, 1e-3}) * 1.15);
    seconds->applyNiceNumbers();
  }
  replace_chart(phases_, phases);

  // Reading speed.
  auto* speed = new_chart(tr("Reading speed across prefill (tokens/s)"));
  auto* line = new QLineSeries;
  line->setPointsVisible(true);
  double top = 1;
  if (answer)
    for (const QPointF& p : reading_speed(*answer)) {
      line->append(p);
      top = std::max(top, p.y());
    }
  speed->addSeries(line);
  auto* tokens = new QValueAxis;
  tokens->setTitleText(tr("tokens read"));
  tokens->setLabelFormat(QStringLiteral("%d"));
  tokens->setRange(0, answer ? std::max<double>(1, double(answer->prompt_tokens)) : 1);
  auto* rate = new QValueAxis;
  rate->setLabelFormat(QStringLiteral("%d"));
  rate->setRange(0, top * 1.15);
  rate->applyNiceNumbers();
  speed->addAxis(tokens, Qt::AlignBottom);
  speed->addAxis(rate, Qt::AlignLeft);
  line->attachAxis(tokens);
  line->attachAxis(rate);
  replace_chart(speed_, speed);

  // GPU block cache.
  const std::int64_t lookups = answer ? answer->cache_hits + answer->cache_misses : 0;
  auto* cache = new_chart(lookups > 0 ? tr("GPU block cache: %1 % hits, %2 copied")
                                            .arg(answer->cache_hit_rate() * 100, 0, 'f', 1)
                                            .arg(format_bytes(answer->bytes_to_device))
                                      : tr("GPU block cache: no lookups"));
  auto* pie = new QPieSeries;
  if (lookups > 0) {
    auto* hits = pie->append(tr("hits %1").arg(answer->cache_hits), double(answer->cache_hits));
    auto* misses = pie->append(tr("misses %1").arg(answer->cache_misses), double(answer->cache_misses));
    hits->setColor(QColor(70, 160, 90));
    misses->setColor(QColor(210, 90, 60));
    hits->setLabelVisible(true);
    misses->setLabelVisible(true);
  }
  pie->setHoleSize(0.45);
  cache->addSeries(pie);
  replace_chart(cache_, cache);

  if (!answer) {
    facts_->setText(tr("Timings of the last answer appear here."));
    return;
  }
  facts_->setText(tr("<b>%1</b><br>%2 · prefill %3 · decode %4 ms/token · host peak %5 · GPU peak %6 · %7 bytes to the GPU")
                      .arg(QString::fromStdString(answer->question).toHtmlEscaped().left(100), answer_summary(*answer).toHtmlEscaped(),
                           format_rate(answer->prefill_tokens_per_second()))
                      .arg(answer->decode_ms_per_token(), 0, 'f', 1)
                      .arg(format_bytes(answer->host_peak_bytes), format_bytes(answer->gpu_peak_bytes),
                           format_bytes(answer->bytes_to_device)));
}

}  // namespace qread::ui
