// qread-studio: the desktop application's entry point. `qread-studio [--model DIR] [FILE]`
// opens FILE (a PDF, text or Markdown document) and, with --model, uses that model.
#include "main_window.hpp"
#include "qread/version.hpp"

#include <QApplication>
#include <QCommandLineParser>
#include <QFileInfo>

int main(int argc, char** argv) {
  QApplication app(argc, argv);
  QApplication::setApplicationName(QStringLiteral("qread"));
  QApplication::setOrganizationName(QStringLiteral("qread"));
  QApplication::setApplicationVersion(QString::fromLatin1(qread::kVersion));
  QApplication::setDesktopFileName(QStringLiteral("io.github.qread.Qread"));

  QCommandLineParser parser;
  parser.setApplicationDescription(QStringLiteral("Ask questions about long documents with a local LLM."));
  parser.addHelpOption();
  parser.addVersionOption();
  const QCommandLineOption model({QStringLiteral("m"), QStringLiteral("model")},
                                 QStringLiteral("Model folder (Hugging Face layout) or .gguf file."), QStringLiteral("path"));
  parser.addOption(model);
  parser.addPositionalArgument(QStringLiteral("file"), QStringLiteral("A PDF, text or Markdown document to open."),
                               QStringLiteral("[file]"));
  parser.process(app);

  qread::ui::MainWindow window;
  window.show();
  if (parser.isSet(model)) window.setModel(QFileInfo(parser.value(model)).absoluteFilePath());
  if (!parser.positionalArguments().isEmpty()) window.openDocument(parser.positionalArguments().first());
  return QApplication::exec();
}
