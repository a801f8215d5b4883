// Running the qread command line from a test, as a user would: through a process.
#pragma once

#include <QProcess>
#include <QProcessEnvironment>
#include <QString>
#include <QStringList>

namespace qread::test {

struct CliResult {
  int exit_code;  // -1: timed out, -2: crashed
  QString out, err;
};

inline CliResult run_cli(const QString& program, const QStringList& args, int timeout_ms = 120000,
                         const QProcessEnvironment& env = QProcessEnvironment::systemEnvironment()) {
  QProcess p;
  p.setProcessEnvironment(env);
  p.start(program, args);
  if (!p.waitForFinished(timeout_ms)) {
    p.kill();
    p.waitForFinished();
    return {-1, {}, QStringLiteral("timed out")};
  }
  return {p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -2, QString::fromUtf8(p.readAllStandardOutput()),
          QString::fromUtf8(p.readAllStandardError())};
}

// The tiny random model the CLI and GUI suites share, made by `qread mkmodel`: hidden size 64 and
// a 400-token BPE tokenizer trained on `corpus`.
inline CliResult make_tiny_model(const QString& cli, const QString& out, const QString& corpus, int seed) {
  return run_cli(cli, {QStringLiteral("mkmodel"), QStringLiteral("--out"), out, QStringLiteral("--tokenizer"),
                       QStringLiteral("bpe"), QStringLiteral("--corpus"), corpus, QStringLiteral("--tokenizer-vocab"),
                       QStringLiteral("400"), QStringLiteral("--hidden"), QStringLiteral("64"), QStringLiteral("--seed"),
                       QString::number(seed)});
}

}  // namespace qread::test
