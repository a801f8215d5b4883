// The GUI thread's handle on the engine: a QThread running an EngineWorker. Every call here
// returns at once; results arrive as signals on the GUI thread. Cancel is a flag the worker
// polls after every transformer layer, so it takes effect within a second.
#pragma once

#include "engine_types.hpp"

#include <QFutureWatcher>
#include <QObject>
#include <QThread>

#include <atomic>

namespace qread::ui {

class EngineWorker;

struct MemorySample {
  long long host_rss_bytes = 0, gpu_allocated_bytes = 0, gpu_reserved_bytes = 0;
};

class Engine : public QObject {
  Q_OBJECT
 public:
  explicit Engine(QObject* parent = nullptr);
  ~Engine() override;  // cancels, then waits for the engine thread

  void loadModel(const ModelChoice& choice);
  void loadDocument(const QString& path);
  // Returns the job id that the signals carry.
  int ask(const QString& question, const DocumentPtr& document, const ModelChoice& model,
          const std::vector<AskOptions>& runs);
  void cancel();

  bool busy() const { return pending_ > 0; }
  QThread* thread_of_worker() const { return const_cast<QThread*>(&thread_); }
  // Samples host and GPU memory once a second off the GUI thread (memoryChanged).
  void startMemoryMonitor(int interval_ms = 1000);

 Q_SIGNALS:
  void runtimeReady(const QString& summary, const QString& devices);
  void modelLoaded(const qread::ui::ModelChoice& choice, const QString& summary);
  void documentProgress(int pages_done, int pages_total);
  void documentLoaded(const qread::ui::DocumentPtr& document);
  void runStarted(int job, int index, const QString& mode);
  void reading(int job, int index, qint64 done, qint64 total, double seconds);
  void textPiece(int job, int index, const QString& piece);
  void answered(int job, int index, const qread::ui::AnswerPtr& answer);
  void jobFinished(int job);
  void failed(const QString& what, const QString& message);
  void busyChanged(bool busy);
  void memoryChanged(long long host_rss_bytes, long long gpu_allocated_bytes);

 private:
  void submitted();
  void sampleMemory();

  std::atomic<bool> cancel_{false};
  QThread thread_;
  EngineWorker* worker_ = nullptr;  // lives on thread_, deleted when it finishes
  int pending_ = 0;
  int next_job_ = 1;
  QFutureWatcher<MemorySample> memory_watcher_;
};

}  // namespace qread::ui
