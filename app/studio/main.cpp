// qread-studio: the desktop application's entry point.
//   qread-studio [--model DIR|FILE.gguf] [--preset FILE.yaml|MODE] [--question TEXT] [FILE]
// opens FILE (a PDF, text or Markdown document) and, with --model, uses that model. The question
// box gets --question, else the text of FILE's sibling FILE.question when there is one (the
// bundled sample document has its suggested question there).
#include "main_window.hpp"
#include "openmp_defaults.hpp"
#include "qread/version.hpp"

#include <QApplication>
#include <QCommandLineParser>
#include <QFile>
#include <QFileInfo>
#include <QPlainTextEdit>

int main(int argc, char** argv) {
  qread::app::relaunch_with_openmp_defaults(argv);  // see openmp_defaults.hpp
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
  const QCommandLineOption preset(QStringLiteral("preset"),
                                  QStringLiteral("A YAML run config, or a mode: qllm, inf-llm, stream-llm, infinite-lm, quest, origin."),
                                  QStringLiteral("preset"));
  parser.addOption(preset);
  const QCommandLineOption question(QStringLiteral("question"), QStringLiteral("Put this question in the question box."),
                                    QStringLiteral("text"));
  parser.addOption(question);
  parser.addPositionalArgument(QStringLiteral("file"), QStringLiteral("A PDF, text or Markdown document to open."),
                               QStringLiteral("[file]"));
  parser.process(app);

  qread::ui::MainWindow window;
  window.show();
  if (parser.isSet(model)) window.setModel(QFileInfo(parser.value(model)).absoluteFilePath());
  if (parser.isSet(preset)) {
    auto settings = window.settings();
    const QString value = parser.value(preset);
    settings.preset = QFileInfo(value).isFile() ? QFileInfo(value).absoluteFilePath() : QStringLiteral("mode:") + value;
    window.setSettings(settings);
  }
  QString text = parser.value(question);
  if (!parser.positionalArguments().isEmpty()) {
    const QString file = parser.positionalArguments().first();
    window.openDocument(file);
    QFile suggested(QFileInfo(file).path() + QLatin1Char('/') + QFileInfo(file).completeBaseName() + QStringLiteral(".question"));
    if (text.isEmpty() && suggested.open(QIODevice::ReadOnly)) text = QString::fromUtf8(suggested.readAll()).trimmed();
  }
  if (!text.isEmpty()) window.questionEdit()->setPlainText(text);
  return QApplication::exec();
}
