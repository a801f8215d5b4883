// How answers read to people: sizes, durations, cited pages, and one answer as HTML (the answer
// pane, the PDF export) or Markdown (the Markdown export).
#pragma once

#include "qread/session.hpp"

#include <QString>

namespace qread::ui {

QString format_bytes(long long bytes);      // "812 KiB", "1.4 GiB"
QString format_seconds(double seconds);     // "850 ms", "12.3 s", "2 min 05 s"
QString format_rate(double per_second);     // "1,234 tok/s"
// "12 (40), 13 (22), 7 (9)": the first `count` cited pages with their retrievals; "" if none.
QString cited_pages_text(const Answer& answer, int count = 5);
// "Q-LLM · 2,345 tokens read in 3.1 s (756 tok/s) · 42 tokens in 1.2 s · stop: eos"
QString answer_summary(const Answer& answer);
// The answer and its facts as an HTML fragment. With `links`, cited pages are links
// "page:N" that the answer pane follows to the document.
QString answer_html(const Answer& answer, bool links);
QString answer_markdown(const Answer& answer, int number);

}  // namespace qread::ui
