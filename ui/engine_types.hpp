// Engine values as they travel between the worker thread and the GUI thread: shared, immutable
// pointers to plain engine types, registered as Qt metatypes so that queued signals carry them.
#pragma once

#include "qread/document.hpp"
#include "qread/session.hpp"

#include <QMetaType>
#include <QString>

#include <memory>
#include <vector>

namespace qread::ui {

using AnswerPtr = std::shared_ptr<const Answer>;
using DocumentPtr = std::shared_ptr<const Document>;

// Which model to load and how: a folder (or .gguf file), the device and the dtype.
struct ModelChoice {
  QString path;
  QString device = QStringLiteral("cpu");
  QString dtype = QStringLiteral("auto");
  bool operator==(const ModelChoice&) const = default;
};

// One question for the worker: a single run (ask) or several in a row (compare).
struct AskJob {
  int id = 0;
  QString question;
  DocumentPtr document;
  ModelChoice model;
  std::vector<AskOptions> runs;
};

// Registers the types above with Qt's meta-type system (once; called by Engine).
void register_engine_types();

}  // namespace qread::ui

Q_DECLARE_METATYPE(qread::ui::AnswerPtr)
Q_DECLARE_METATYPE(qread::ui::DocumentPtr)
Q_DECLARE_METATYPE(qread::ui::ModelChoice)
Q_DECLARE_METATYPE(qread::ui::AskJob)
