// Autosave: every answer is written as soon as it completes, one JSON file per document (an
// array of answers, qread::to_json), so that a crash or close loses nothing and reopening the
// document offers them again. Files are replaced atomically (QSaveFile).
#pragma once

#include "qread/session.hpp"

#include <QString>

#include <vector>

namespace qread::ui {

class AnswerStore {
 public:
  // Default folder: <AppDataLocation>/answers.
  explicit AnswerStore(QString folder = {});

  const QString& folder() const { return folder_; }
  // The file holding the answers about `document` (named by a hash of its absolute path).
  QString fileFor(const QString& document) const;
  // Adds `answer` to the answers about `document`. Returns false with `error` set on failure.
  bool append(const QString& document, const Answer& answer, QString* error = nullptr);
  // The answers saved about `document`, oldest first; none if there is no file or it cannot
  // be read (then `error` says why).
  std::vector<Answer> load(const QString& document, QString* error = nullptr) const;
  bool clear(const QString& document);

 private:
  QString folder_;
};

}  // namespace qread::ui
