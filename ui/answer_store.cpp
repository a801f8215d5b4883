#include "answer_store.hpp"

#include <QCryptographicHash>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QSaveFile>
#include <QStandardPaths>

#include <exception>

namespace qread::ui {

AnswerStore::AnswerStore(QString folder) : folder_(std::move(folder)) {
  if (folder_.isEmpty())
    folder_ = QStandardPaths::writableLocation(QStandardPaths::AppDataLocation) + QStringLiteral("/answers");
}

QString AnswerStore::fileFor(const QString& document) const {
  const QString absolute = QFileInfo(document).absoluteFilePath();
  const QByteArray hash = QCryptographicHash::hash(absolute.toUtf8(), QCryptographicHash::Sha1).toHex().left(16);
  return folder_ + QLatin1Char('/') + QString::fromLatin1(hash) + QStringLiteral(".json");
}

std::vector<Answer> AnswerStore::load(const QString& document, QString* error) const {
  QFile file(fileFor(document));
  if (!file.exists()) return {};
  if (!file.open(QIODevice::ReadOnly)) {
    if (error) *error = file.errorString();
    return {};
  }
  const QByteArray bytes = file.readAll();
  try {
    return answers_from_json(std::string_view(bytes.constData(), std::size_t(bytes.size())));
  } catch (const std::exception& e) {
    if (error) *error = QStringLiteral("%1: %2").arg(file.fileName(), QString::fromUtf8(e.what()));
    return {};
  }
}

bool AnswerStore::append(const QString& document, const Answer& answer, QString* error) {
  if (!QDir().mkpath(folder_)) {
    if (error) *error = QStringLiteral("cannot create %1").arg(folder_);
    return false;
  }
  QString load_error;
  std::vector<Answer> answers = load(document, &load_error);
  if (!load_error.isEmpty()) {
    // Keep the unreadable file aside rather than overwrite it.
    QFile::rename(fileFor(document), fileFor(document) + QStringLiteral(".unreadable"));
  }
  answers.push_back(answer);
  QSaveFile file(fileFor(document));
  if (!file.open(QIODevice::WriteOnly)) {
    if (error) *error = file.errorString();
    return false;
  }
  file.write(QByteArray::fromStdString(to_json(answers)));
  if (!file.commit()) {
    if (error) *error = file.errorString();
    return false;
  }
  return true;
}

bool AnswerStore::clear(const QString& document) { return QFile::remove(fileFor(document)); }

}  // namespace qread::ui
