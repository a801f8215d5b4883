#include "engine.hpp"

#include "engine_worker.hpp"
#include "qread/runtime.hpp"

#include <QTimer>
#include <QtConcurrent/QtConcurrentRun>

namespace qread::ui {

void register_engine_types() {
  static const bool once = [] {
    qRegisterMetaType<AnswerPtr>();
    qRegisterMetaType<DocumentPtr>();
    qRegisterMetaType<ModelChoice>();
    qRegisterMetaType<AskJob>();
    return true;
  }();
  (void)once;
}

Engine::Engine(QObject* parent) : QObject(parent) {
  register_engine_types();
  thread_.setObjectName(QStringLiteral("qread engine"));
  worker_ = new EngineWorker(&cancel_);
  worker_->moveToThread(&thread_);
  connect(&thread_, &QThread::finished, worker_, &QObject::deleteLater);
  connect(worker_, &EngineWorker::runtimeReady, this, &Engine::runtimeReady);
  connect(worker_, &EngineWorker::modelLoaded, this, &Engine::modelLoaded);
  connect(worker_, &EngineWorker::documentProgress, this, &Engine::documentProgress);
  connect(worker_, &EngineWorker::documentLoaded, this, &Engine::documentLoaded);
  connect(worker_, &EngineWorker::runStarted, this, &Engine::runStarted);
  connect(worker_, &EngineWorker::reading, this, &Engine::reading);
  connect(worker_, &EngineWorker::textPiece, this, &Engine::textPiece);
  connect(worker_, &EngineWorker::answered, this, &Engine::answered);
  connect(worker_, &EngineWorker::jobFinished, this, &Engine::jobFinished);
  connect(worker_, &EngineWorker::failed, this, &Engine::failed);
  connect(worker_, &EngineWorker::idle, this, [this] {
    if (--pending_ == 0) Q_EMIT busyChanged(false);
  });
  connect(&memory_watcher_, &QFutureWatcher<MemorySample>::finished, this, [this] {
    const MemorySample m = memory_watcher_.result();
    Q_EMIT memoryChanged(m.host_rss_bytes, m.gpu_allocated_bytes);
  });
  thread_.start();
  submitted();
  QMetaObject::invokeMethod(worker_, &EngineWorker::start, Qt::QueuedConnection);
}

Engine::~Engine() {
  cancel_ = true;
  thread_.quit();
  thread_.wait();
  memory_watcher_.waitForFinished();
}

void Engine::submitted() {
  if (pending_++ == 0) Q_EMIT busyChanged(true);
}

void Engine::loadModel(const ModelChoice& choice) {
  submitted();
  QMetaObject::invokeMethod(worker_, [w = worker_, choice] { w->loadModel(choice); }, Qt::QueuedConnection);
}

void Engine::loadDocument(const QString& path) {
  cancel_ = false;
  submitted();
  QMetaObject::invokeMethod(worker_, [w = worker_, path] { w->loadDocument(path); }, Qt::QueuedConnection);
}

int Engine::ask(const QString& question, const DocumentPtr& document, const ModelChoice& model,
                const std::vector<AskOptions>& runs) {
  AskJob job;
  job.id = next_job_++;
  job.question = question;
  job.document = document;
  job.model = model;
  job.runs = runs;
  cancel_ = false;
  submitted();
  QMetaObject::invokeMethod(worker_, [w = worker_, job] { w->run(job); }, Qt::QueuedConnection);
  return job.id;
}

void Engine::cancel() { cancel_ = true; }

void Engine::startMemoryMonitor(int interval_ms) {
  auto* timer = new QTimer(this);
  connect(timer, &QTimer::timeout, this, &Engine::sampleMemory);
  timer->start(interval_ms);
  sampleMemory();
}

void Engine::sampleMemory() {
  if (memory_watcher_.isRunning()) return;
  memory_watcher_.setFuture(QtConcurrent::run([] {
    const MemoryUsage m = memory_usage();
    return MemorySample{m.host_rss_bytes, m.gpu_allocated_bytes, m.gpu_reserved_bytes};
  }));
}

}  // namespace qread::ui
