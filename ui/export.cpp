#include "export.hpp"

#include "answer_format.hpp"

#include <QDateTime>
#include <QFile>
#include <QPageSize>
#include <QPdfWriter>
#include <QSaveFile>
#include <QTextDocument>

namespace qread::ui {

namespace {

QString exported_at() { return QDateTime::currentDateTimeUtc().toString(Qt::ISODate); }

bool write_file(const QString& path, const QByteArray& bytes, QString* error) {
  QSaveFile file(path);
  if (!file.open(QIODevice::WriteOnly) || file.write(bytes) != bytes.size() || !file.commit()) {
    if (error) *error = QStringLiteral("%1: %2").arg(path, file.errorString());
    return false;
  }
  return true;
}

}  // namespace

QString export_markdown(const std::vector<Answer>& answers, const QString& title) {
  QString md = QStringLiteral("# %1\n\n").arg(title);
  md += QStringLiteral("%1 answers, exported %2 by qread.\n\n").arg(answers.size()).arg(exported_at());
  for (std::size_t i = 0; i < answers.size(); ++i) md += answer_markdown(answers[i], int(i) + 1);
  return md;
}

QString export_html(const std::vector<Answer>& answers, const QString& title) {
  QString html = QStringLiteral("<html><body><h1>%1</h1><p>%2 answers, exported %3 by qread.</p>")
                     .arg(title.toHtmlEscaped())
                     .arg(answers.size())
                     .arg(exported_at());
  for (std::size_t i = 0; i < answers.size(); ++i) {
    html += QStringLiteral("<hr><p><b>%1.</b></p>").arg(i + 1);
    html += answer_html(answers[i], false);
    html += QStringLiteral("<pre style='font-size:7pt'>%1</pre>")
                .arg(QString::fromStdString(answers[i].config_yaml).toHtmlEscaped());
  }
  html += QStringLiteral("</body></html>");
  return html;
}

ExportFormat export_format_of(const QString& path) {
  if (path.endsWith(QStringLiteral(".json"), Qt::CaseInsensitive)) return ExportFormat::json;
  if (path.endsWith(QStringLiteral(".pdf"), Qt::CaseInsensitive)) return ExportFormat::pdf;
  return ExportFormat::markdown;
}

bool export_answers(const std::vector<Answer>& answers, const QString& title, ExportFormat format,
                    const QString& path, QString* error) {
  switch (format) {
    case ExportFormat::markdown:
      return write_file(path, export_markdown(answers, title).toUtf8(), error);
    case ExportFormat::json:
      return write_file(path, QByteArray::fromStdString(to_json(answers)), error);
    case ExportFormat::pdf: {
      {
        QPdfWriter writer(path);
        writer.setPageSize(QPageSize(QPageSize::A4));
        writer.setResolution(300);
        writer.setTitle(title);
        writer.setCreator(QStringLiteral("qread"));
        QTextDocument document;
        document.setHtml(export_html(answers, title));
        document.print(&writer);
      }  // the file is complete once the writer is gone
      // QPdfWriter reports no errors; an empty or missing file is the failure.
      QFile check(path);
      if (!check.exists() || check.size() == 0) {
        if (error) *error = QStringLiteral("%1: could not write the PDF").arg(path);
        return false;
      }
      return true;
    }
  }
  return false;
}

}  // namespace qread::ui
