// qread-mkpdf: typesets a Markdown file as a PDF with Qt (QTextDocument + QPdfWriter), each
// second-level section ("## ...") on a new page. The build uses it to make the bundled sample
// document from resources/sample/*.md; tests use it for PDFs with known text per page.
//   qread-mkpdf IN.md OUT.pdf [--title TITLE] [--page a4|a5]
#include <QFile>
#include <QGuiApplication>
#include <QPageLayout>
#include <QPageSize>
#include <QPdfWriter>
#include <QTextBlock>
#include <QTextCursor>
#include <QTextDocument>

#include <cstdio>
#include <cstdlib>

namespace {

int fail(const QString& message) {
  std::fprintf(stderr, "qread-mkpdf: %s\n", qPrintable(message));
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM")) qputenv("QT_QPA_PLATFORM", "offscreen");
  QGuiApplication app(argc, argv);
  const QStringList args = QGuiApplication::arguments().mid(1);
  QStringList files;
  QString title, page = QStringLiteral("a5");
  for (int i = 0; i < args.size(); ++i) {
    if (args[i] == QLatin1String("--title") && i + 1 < args.size()) {
      title = args[++i];
    } else if (args[i] == QLatin1String("--page") && i + 1 < args.size()) {
      page = args[++i];
    } else if (args[i].startsWith(QLatin1String("--"))) {
      return fail(QStringLiteral("unknown option '%1' (usage: qread-mkpdf IN.md OUT.pdf [--title T] [--page a4|a5])").arg(args[i]));
    } else {
      files << args[i];
    }
  }
  if (files.size() != 2) return fail(QStringLiteral("usage: qread-mkpdf IN.md OUT.pdf [--title T] [--page a4|a5]"));
  if (page != QLatin1String("a4") && page != QLatin1String("a5"))
    return fail(QStringLiteral("--page: '%1' is not a4 or a5").arg(page));

  QFile in(files[0]);
  if (!in.open(QIODevice::ReadOnly)) return fail(QStringLiteral("%1: %2").arg(files[0], in.errorString()));
  QTextDocument document;
  document.setMarkdown(QString::fromUtf8(in.readAll()));
  if (document.isEmpty()) return fail(QStringLiteral("%1: no text").arg(files[0]));
  if (title.isEmpty()) title = document.firstBlock().text();

  // A new page before each second-level heading but the first block.
  for (QTextBlock block = document.firstBlock().next(); block.isValid(); block = block.next()) {
    if (block.blockFormat().headingLevel() != 2) continue;
    QTextCursor cursor(block);
    QTextBlockFormat format = block.blockFormat();
    format.setPageBreakPolicy(QTextFormat::PageBreak_AlwaysBefore);
    cursor.setBlockFormat(format);
  }

  QPdfWriter writer(files[1]);
  writer.setTitle(title);
  writer.setCreator(QStringLiteral("qread-mkpdf"));
  writer.setResolution(300);
  writer.setPageLayout(QPageLayout(QPageSize(page == QLatin1String("a4") ? QPageSize::A4 : QPageSize::A5),
                                   QPageLayout::Portrait, QMarginsF(15, 15, 15, 15), QPageLayout::Millimeter));
  document.print(&writer);
  QFile out(files[1]);
  if (!out.exists() || out.size() == 0) return fail(QStringLiteral("%1: could not write the PDF").arg(files[1]));
  return 0;
}
