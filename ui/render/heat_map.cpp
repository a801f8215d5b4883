#include "heat_map.hpp"

#include <QColor>
#include <QFont>
#include <QFontMetrics>
#include <QGuiApplication>
#include <QImage>
#include <QLinearGradient>
#include <QPainter>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <stdexcept>

namespace qread::render {
namespace {

// Red (0) through yellow to green (1), the usual needle-in-a-haystack palette.
QColor colour_of(double value) {
  if (std::isnan(value)) return QColor(220, 220, 220);
  const double v = std::clamp(value, 0.0, 1.0);
  return QColor::fromHsvF(float(v / 3.0), 0.75f, 0.92f);  // hue 0..120 degrees
}

QString text_of(const std::string& s) { return QString::fromUtf8(s.data(), qsizetype(s.size())); }

// Text needs a QGuiApplication (its font database); a command-line process has none, and may
// have no display either: make an offscreen one for as long as the drawing takes.
class OffscreenApp {
 public:
  OffscreenApp() {
    if (QCoreApplication::instance()) {
      if (!qobject_cast<QGuiApplication*>(QCoreApplication::instance()))
        throw std::runtime_error("heat map: the process has a QCoreApplication; text needs a QGuiApplication");
      return;
    }
    qputenv("QT_QPA_PLATFORM", "offscreen");
    // Qt's start-up chatter (XDG_RUNTIME_DIR not set, ...) means nothing to a CLI user.
    previous_handler_ = qInstallMessageHandler([](QtMsgType type, const QMessageLogContext&, const QString& text) {
      if (type == QtCriticalMsg || type == QtFatalMsg) std::fprintf(stderr, "qread: Qt: %s\n", qPrintable(text));
    });
    app_ = std::make_unique<QGuiApplication>(argc_, argv_);
  }
  ~OffscreenApp() {
    if (!app_) return;
    app_.reset();
    qInstallMessageHandler(previous_handler_);
  }
  OffscreenApp(const OffscreenApp&) = delete;
  OffscreenApp& operator=(const OffscreenApp&) = delete;

 private:
  int argc_ = 1;
  char name_[6] = "qread";
  char* argv_[2] = {name_, nullptr};
  std::unique_ptr<QGuiApplication> app_;
  QtMessageHandler previous_handler_ = nullptr;
};

}  // namespace

void write_heat_map_png(const HeatMap& map, const std::string& path) {
  const auto n_columns = int(map.columns.size()), n_rows = int(map.rows.size());
  if (n_columns == 0 || n_rows == 0 || map.values.size() != std::size_t(n_columns * n_rows) ||
      (!map.cell_text.empty() && map.cell_text.size() != map.values.size()))
    throw std::runtime_error("heat map: values do not match the rows and columns");
  OffscreenApp app;

  QFont font(QStringLiteral("DejaVu Sans"));
  font.setPixelSize(13);
  QFont bold = font;
  bold.setBold(true);
  QFont title_font = bold;
  title_font.setPixelSize(16);
  const QFontMetrics metrics(font);

  int row_label_width = 0;
  for (const auto& r : map.rows) row_label_width = std::max(row_label_width, metrics.horizontalAdvance(text_of(r)));
  int cell_width = 72;
  for (const auto& c : map.columns) cell_width = std::max(cell_width, metrics.horizontalAdvance(text_of(c)) + 12);
  // Tall enough for the y axis title, which is drawn turned along the grid.
  const int y_title_width = QFontMetrics(bold).horizontalAdvance(text_of(map.y_label)) + 12;
  const int cell_height = std::max(36, (y_title_width + n_rows - 1) / n_rows);
  const int left = 16 + metrics.height() + 8 + row_label_width + 8;  // y title, tick labels
  const int top = 16 + QFontMetrics(title_font).height() + 12;
  const int grid_width = cell_width * n_columns, grid_height = cell_height * n_rows;
  const int legend_width = 90;
  const int width = left + grid_width + 24 + legend_width;
  const int height = top + grid_height + 8 + metrics.height() + 8 + metrics.height() + 16;

  QImage image(width, height, QImage::Format_RGB32);
  image.fill(Qt::white);
  QPainter p(&image);
  p.setRenderHint(QPainter::Antialiasing);
  p.setRenderHint(QPainter::TextAntialiasing);

  p.setFont(title_font);
  p.setPen(Qt::black);
  p.drawText(QRect(0, 12, width, QFontMetrics(title_font).height()), Qt::AlignHCenter, text_of(map.title));

  p.setFont(font);
  for (int r = 0; r < n_rows; ++r) {
    for (int c = 0; c < n_columns; ++c) {
      const auto i = std::size_t(r * n_columns + c);
      const double v = map.values[i];
      const QRect cell(left + c * cell_width, top + r * cell_height, cell_width, cell_height);
      p.fillRect(cell, colour_of(v));
      p.setPen(QColor(255, 255, 255));
      p.drawRect(cell.adjusted(0, 0, -1, -1));
      const QString text = !map.cell_text.empty() ? text_of(map.cell_text[i])
                           : std::isnan(v)        ? QStringLiteral("-")
                                                  : QString::number(int(std::lround(100 * v))) + QLatin1Char('%');
      p.setPen(Qt::black);
      p.drawText(cell, Qt::AlignCenter, text);
    }
    p.drawText(QRect(left - 8 - row_label_width, top + r * cell_height, row_label_width, cell_height),
               Qt::AlignRight | Qt::AlignVCenter, text_of(map.rows[std::size_t(r)]));
  }
  for (int c = 0; c < n_columns; ++c)
    p.drawText(QRect(left + c * cell_width, top + grid_height + 8, cell_width, metrics.height()), Qt::AlignHCenter,
               text_of(map.columns[std::size_t(c)]));

  // Axis titles: x under the tick labels, y turned on its side at the left.
  p.setFont(bold);
  p.drawText(QRect(left, top + grid_height + 8 + metrics.height() + 8, grid_width, metrics.height()),
             Qt::AlignHCenter, text_of(map.x_label));
  p.save();
  p.translate(16, top + grid_height / 2.0);
  p.rotate(-90);
  p.drawText(QRect(-grid_height / 2, 0, grid_height, metrics.height()), Qt::AlignHCenter, text_of(map.y_label));
  p.restore();

  // Legend: the colour scale from 0% (bottom) to 100% (top).
  const QRect bar(left + grid_width + 24, top, 18, grid_height);
  QLinearGradient gradient(bar.bottomLeft(), bar.topLeft());
  for (int s = 0; s <= 10; ++s) gradient.setColorAt(s / 10.0, colour_of(s / 10.0));
  p.fillRect(bar, gradient);
  p.setPen(Qt::black);
  p.drawRect(bar);
  p.setFont(font);
  p.drawText(QRect(bar.right() + 6, bar.top() - metrics.height() / 2, 60, metrics.height()), Qt::AlignLeft,
             QStringLiteral("100%"));
  p.drawText(QRect(bar.right() + 6, bar.bottom() - metrics.height() / 2, 60, metrics.height()), Qt::AlignLeft,
             QStringLiteral("0%"));
  p.end();

  if (!image.save(text_of(path), "PNG")) throw std::runtime_error("cannot write " + path);
}

}  // namespace qread::render
