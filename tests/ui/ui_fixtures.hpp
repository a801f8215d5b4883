// What the GUI tests share: a tiny model made by `qread mkmodel`, a PDF and text files built
// from the tokenizer corpus, small Q-LLM settings (so that a few-page document already has
// memory blocks), and an isolated settings / app-data folder.
#pragma once

#include "cli_process.hpp"
#include "../document/pdf_fixtures.hpp"

#include <QCoreApplication>
#include <QFile>
#include <QSignalSpy>
#include <QStringList>
#include <QTemporaryDir>

namespace qread::test {

inline QStringList tiny_qllm_overrides() {
  return {QStringLiteral("n_local=128"), QStringLiteral("exc_block_size=64"), QStringLiteral("block_size=32"),
          QStringLiteral("n_init=16"), QStringLiteral("chunk_size=512")};
}

inline QStringList corpus_lines() {
  QFile in(QStringLiteral(QREAD_SOURCE_DIR "/tests/tokenizer/data/corpus.txt"));
  if (!in.open(QIODevice::ReadOnly)) return {};
  return QString::fromUtf8(in.readAll()).split(QLatin1Char('\n'), Qt::SkipEmptyParts);
}

class UiFixture {
 public:
  // Points settings and app data at a fresh folder (call before any QSettings use).
  UiFixture() {
    qputenv("XDG_CONFIG_HOME", tmp_.filePath(QStringLiteral("config")).toUtf8());
    qputenv("XDG_DATA_HOME", tmp_.filePath(QStringLiteral("data")).toUtf8());
    QCoreApplication::setOrganizationName(QStringLiteral("qread-tests"));
    QCoreApplication::setApplicationName(QStringLiteral("qread-tests"));
  }

  QString path(const QString& name) const { return tmp_.filePath(name); }
  QString model() const { return path(QStringLiteral("model")); }
  QString pdf() const { return path(QStringLiteral("book.pdf")); }
  QString text() const { return path(QStringLiteral("book.txt")); }

  // Makes the model and the documents; returns an error message or "".
  QString make(int text_copies = 4) {
    const auto made = make_tiny_model(QStringLiteral(QREAD_CLI), model(),
                                      QStringLiteral(QREAD_SOURCE_DIR "/tests/tokenizer/data/corpus.txt"), 7);
    if (made.exit_code != 0) return QStringLiteral("mkmodel failed: ") + made.err;
    const QStringList lines = corpus_lines();
    if (lines.isEmpty()) return QStringLiteral("no corpus");
    // Six pages of 30 lines; each page has its own marker line in the middle (a first line
    // that repeats on every page would be taken for a running header and left out).
    std::vector<PdfPage> pages;
    for (int p = 0; p < 6; ++p) {
      std::vector<QString> page_lines;
      for (int i = 0; i < 30; ++i) {
        if (i == 10) page_lines.push_back(QStringLiteral("In this part the marker page%1 appears.").arg(p + 1));
        page_lines.push_back(lines[(p * 30 + i) % lines.size()].left(95));
      }
      pages.push_back(text_page(page_lines, 740));
    }
    if (!write(pdf(), make_pdf(pages))) return QStringLiteral("cannot write the PDF");
    QByteArray text;
    for (int i = 0; i < text_copies; ++i) text += lines.join(QLatin1Char('\n')).toUtf8() + "\n\n";
    if (!write(this->text(), text)) return QStringLiteral("cannot write the text");
    return {};
  }

  // A text document of `copies` copies of the corpus (for long reads).
  QString makeText(const QString& name, int copies) {
    QByteArray text;
    const QByteArray corpus = corpus_lines().join(QLatin1Char('\n')).toUtf8();
    for (int i = 0; i < copies; ++i) text += corpus + "\n\n";
    write(path(name), text);
    return path(name);
  }

  static bool write(const QString& path, const QByteArray& bytes) {
    QFile f(path);
    return f.open(QIODevice::WriteOnly) && f.write(bytes) == bytes.size();
  }

 private:
  QTemporaryDir tmp_;
};

}  // namespace qread::test
