#include "answer_format.hpp"

#include "app_settings.hpp"

#include <QLocale>
#include <QStringList>

namespace qread::ui {

namespace {

QString mode_title(const Answer& a) {
  const auto mode = parse_mode(a.mode);
  return mode ? mode_label(*mode) : QString::fromStdString(a.mode);
}

QString qs(const std::string& s) { return QString::fromStdString(s); }

}  // namespace

QString format_bytes(long long bytes) {
  return QLocale().formattedDataSize(bytes, 1, QLocale::DataSizeTraditionalFormat);
}

QString format_seconds(double seconds) {
  if (seconds < 1) return QStringLiteral("%1 ms").arg(seconds * 1000, 0, 'f', 0);
  if (seconds < 60) return QStringLiteral("%1 s").arg(seconds, 0, 'f', 1);
  const int s = int(seconds + 0.5);
  return QStringLiteral("%1 min %2 s").arg(s / 60).arg(s % 60, 2, 10, QLatin1Char('0'));
}

QString format_rate(double per_second) {
  return QStringLiteral("%1 tok/s").arg(QLocale().toString(per_second, 'f', per_second < 100 ? 1 : 0));
}

QString cited_pages_text(const Answer& answer, int count) {
  QStringList parts;
  for (std::size_t i = 0; i < answer.cited_pages.size() && int(i) < count; ++i)
    parts << QStringLiteral("%1 (%2)").arg(answer.cited_pages[i].page).arg(answer.cited_pages[i].retrievals);
  return parts.join(QStringLiteral(", "));
}

QString answer_summary(const Answer& a) {
  const QLocale l;
  QString s = QStringLiteral("%1 · %2 tokens read in %3 (%4) · %5 tokens in %6 · stop: %7")
                  .arg(mode_title(a), l.toString(qlonglong(a.prompt_tokens)), format_seconds(a.prefill_seconds),
                       format_rate(a.prefill_tokens_per_second()), l.toString(qlonglong(a.answer_tokens)),
                       format_seconds(a.decode_seconds), qs(a.stop_reason));
  return s;
}

QString answer_html(const Answer& a, bool links) {
  QString html;
  html += QStringLiteral("<h3>%1</h3>").arg(qs(a.question).toHtmlEscaped());
  if (a.stop_reason == "error") {
    html += QStringLiteral("<p style='color:#b00020'><b>Error:</b> %1</p>").arg(qs(a.error).toHtmlEscaped());
    return html;
  }
  QString text = qs(a.text).toHtmlEscaped();
  text.replace(QLatin1Char('\n'), QStringLiteral("<br>"));
  html += QStringLiteral("<p>%1</p>").arg(text.isEmpty() ? QStringLiteral("<i>(no answer)</i>") : text);
  if (!a.cited_pages.empty()) {
    QStringList pages;
    for (std::size_t i = 0; i < a.cited_pages.size() && i < 8; ++i) {
      const auto& c = a.cited_pages[i];
      const QString label = QStringLiteral("p. %1").arg(c.page);
      pages << (links ? QStringLiteral("<a href='page:%1'>%2</a> <small>(%3)</small>").arg(c.page).arg(label).arg(c.retrievals)
                      : QStringLiteral("%1 (%2)").arg(label).arg(c.retrievals));
    }
    html += QStringLiteral("<p><b>Drew on:</b> %1</p>").arg(pages.join(QStringLiteral(", ")));
  }
  html += QStringLiteral("<p style='color:#555'><small>%1<br>prefill %2 · decode %3 (%4 ms/token) · host peak %5 · GPU peak %6 · "
                         "%7 · %8 %9</small></p>")
              .arg(answer_summary(a).toHtmlEscaped(), format_seconds(a.prefill_seconds), format_seconds(a.decode_seconds))
              .arg(a.decode_ms_per_token(), 0, 'f', 1)
              .arg(format_bytes(a.host_peak_bytes), format_bytes(a.gpu_peak_bytes), qs(a.finished_at), qs(a.device),
                   qs(a.dtype));
  for (const auto& note : a.notes)
    html += QStringLiteral("<p style='color:#8a5a00'><small>Note: %1</small></p>").arg(qs(note).toHtmlEscaped());
  return html;
}

QString answer_markdown(const Answer& a, int number) {
  QString md;
  md += QStringLiteral("## %1. %2\n\n").arg(number).arg(qs(a.question));
  if (a.stop_reason == "error") {
    md += QStringLiteral("**Error:** %1\n\n").arg(qs(a.error));
    return md;
  }
  for (const QString& line : qs(a.text).split(QLatin1Char('\n'))) md += QStringLiteral("> %1\n").arg(line);
  md += QLatin1Char('\n');
  md += QStringLiteral("- **Mode:** %1\n").arg(qs(a.mode));
  md += QStringLiteral("- **Model:** `%1` (%2, %3)\n").arg(qs(a.model), qs(a.device), qs(a.dtype));
  md += QStringLiteral("- **Cited pages:** %1\n").arg(a.cited_pages.empty() ? QStringLiteral("none") : cited_pages_text(a, 10));
  md += QStringLiteral("- **Prompt tokens:** %1; **answer tokens:** %2; **stop:** %3\n")
            .arg(a.prompt_tokens)
            .arg(a.answer_tokens)
            .arg(qs(a.stop_reason));
  md += QStringLiteral("- **Timings:** tokenize %1 s, prefill %2 s, decode %3 s\n")
            .arg(a.tokenize_seconds, 0, 'f', 3)
            .arg(a.prefill_seconds, 0, 'f', 3)
            .arg(a.decode_seconds, 0, 'f', 3);
  md += QStringLiteral("- **Memory:** host peak %1, GPU peak %2; GPU cache %3 hits, %4 misses, %5 copied\n")
            .arg(format_bytes(a.host_peak_bytes), format_bytes(a.gpu_peak_bytes))
            .arg(a.cache_hits)
            .arg(a.cache_misses)
            .arg(format_bytes(a.bytes_to_device));
  md += QStringLiteral("- **Finished:** %1\n\n").arg(qs(a.finished_at));
  md += QStringLiteral("<details><summary>Config</summary>\n\n```yaml\n%1```\n\n</details>\n\n").arg(qs(a.config_yaml));
  return md;
}

}  // namespace qread::ui
