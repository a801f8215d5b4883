// The object that owns the engine. It lives on the engine thread (see Engine): every slot runs
// there, every signal reaches the GUI queued. Nothing here blocks the window.
#pragma once

#include "engine_types.hpp"

#include <QElapsedTimer>
#include <QObject>

#include <atomic>
#include <memory>
#include <optional>

namespace qread {
class Reader;
}

namespace qread::ui {

class EngineWorker : public QObject {
  Q_OBJECT
 public:
  // `cancel` belongs to the Engine and outlives the worker; the GUI thread sets it.
  explicit EngineWorker(const std::atomic<bool>* cancel, QObject* parent = nullptr);
  ~EngineWorker() override;

 public Q_SLOTS:
  // Initialises LibTorch's thread pool and reports what the engine runs on.
  void start();
  void loadModel(const qread::ui::ModelChoice& choice);
  void loadDocument(const QString& path);
  void run(const qread::ui::AskJob& job);

 Q_SIGNALS:
  // "qread 0.1.0 · LibTorch 1.13.0 · CPU · 2 threads", and the device names for the status bar.
  void runtimeReady(const QString& summary, const QString& devices);
  void modelLoaded(const qread::ui::ModelChoice& choice, const QString& summary);
  void documentProgress(int pages_done, int pages_total);
  void documentLoaded(const qread::ui::DocumentPtr& document);
  void runStarted(int job, int index, const QString& mode);
  // Reading (prefill) progress, at most every 50 ms and at the end.
  void reading(int job, int index, qint64 done, qint64 total, double seconds);
  void textPiece(int job, int index, const QString& piece);
  void answered(int job, int index, const qread::ui::AnswerPtr& answer);
  void jobFinished(int job);
  // Something could not be done: `what` is "model", "document" or "ask"; `message` the
  // engine's own words.
  void failed(const QString& what, const QString& message);
  // After every slot, whatever happened.
  void idle();

 private:
  // Loads the model unless the same one (same options) is loaded already. Throws on failure.
  void ensureModel(const ModelChoice& choice, const RunConfig& config);

  const std::atomic<bool>* cancel_;
  std::unique_ptr<Reader> reader_;
  ModelChoice loaded_;
  std::optional<double> loaded_base_, loaded_scale_;
};

}  // namespace qread::ui
