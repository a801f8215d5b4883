// Export of a session's questions and answers (mode, config, timings, cited pages) as Markdown,
// JSON (qread::to_json, which answers_from_json reads back) and PDF (QTextDocument printed by
// QPdfWriter).
#pragma once

#include "qread/session.hpp"

#include <QString>

#include <vector>

namespace qread::ui {

enum class ExportFormat { markdown, json, pdf };

QString export_markdown(const std::vector<Answer>& answers, const QString& title);
QString export_html(const std::vector<Answer>& answers, const QString& title);
// Writes `answers` to `path` in `format`; false with `error` set on failure.
bool export_answers(const std::vector<Answer>& answers, const QString& title, ExportFormat format,
                    const QString& path, QString* error = nullptr);
// The format a file name asks for (by its extension); markdown when unknown.
ExportFormat export_format_of(const QString& path);

}  // namespace qread::ui
