#include "engine_worker.hpp"

#include "qread/error.hpp"
#include "qread/runtime.hpp"
#include "qread/session.hpp"

#include <QThread>

#include <exception>

namespace qread::ui {

namespace {

QString runtime_summary(const RuntimeInfo& info) {
  const QString device = info.gpus.empty()
                             ? QStringLiteral("CPU")
                             : QStringLiteral("CUDA: %1").arg(QString::fromStdString(info.gpus.front().name));
  return QStringLiteral("qread %1 · LibTorch %2 · %3 · %4 threads")
      .arg(QString::fromStdString(info.qread_version), QString::fromStdString(info.torch_version), device)
      .arg(info.intra_op_threads);
}

QString model_summary(const Reader& reader) {
  const ModelSummary& s = reader.summary();
  return QStringLiteral("%1 · %2 layers · %3M parameters · %4 %5")
      .arg(QString::fromStdString(s.architecture.empty() ? s.model_type : s.architecture))
      .arg(s.layers)
      .arg(double(s.parameters) / 1e6, 0, 'f', 1)
      .arg(QString::fromStdString(s.device), QString::fromStdString(s.dtype));
}

Answer error_answer(const AskJob& job, const AskOptions& options, const QString& message) {
  Answer a;
  a.question = job.question.toStdString();
  a.mode = mode_name(options.config.attention.mode);
  a.stop_reason = "error";
  a.error = message.toStdString();
  a.model = job.model.path.toStdString();
  if (job.document) a.document = job.document->source().string();
  return a;
}

}  // namespace

EngineWorker::EngineWorker(const std::atomic<bool>* cancel, QObject* parent) : QObject(parent), cancel_(cancel) {}

EngineWorker::~EngineWorker() = default;

void EngineWorker::start() {
  init_runtime();
  const RuntimeInfo info = runtime_info();
  QString devices = QStringLiteral("CPU");
  for (const auto& gpu : info.gpus) devices += QStringLiteral(", CUDA:%1 %2").arg(gpu.index).arg(QString::fromStdString(gpu.name));
  Q_EMIT runtimeReady(runtime_summary(info), devices);
  Q_EMIT idle();
}

void EngineWorker::ensureModel(const ModelChoice& choice, const RunConfig& config) {
  const auto& a = config.attention;
  if (reader_ && loaded_ == choice && loaded_base_ == a.base && loaded_scale_ == a.distance_scale) return;
  reader_.reset();  // free the old model first: two 8B models rarely fit
  ModelOptions options{choice.device.toStdString(), choice.dtype.toStdString(), a.base, a.distance_scale};
  reader_ = std::make_unique<Reader>(choice.path.toStdString(), options);
  loaded_ = choice;
  loaded_base_ = a.base;
  loaded_scale_ = a.distance_scale;
  Q_EMIT modelLoaded(choice, model_summary(*reader_));
}

void EngineWorker::loadModel(const ModelChoice& choice) {
  try {
    ensureModel(choice, RunConfig{});  // no RoPE overrides until a run's config asks for them
  } catch (const std::exception& e) {
    reader_.reset();
    Q_EMIT failed(QStringLiteral("model"), QString::fromUtf8(e.what()));
  }
  Q_EMIT idle();
}

void EngineWorker::loadDocument(const QString& path) {
  try {
    LoadOptions options;
    options.progress = [this](int done, int total) { Q_EMIT documentProgress(done, total); };
    options.cancelled = [this] { return cancel_->load(); };
    auto document = std::make_shared<const Document>(load_document(path.toStdString(), options));
    Q_EMIT documentLoaded(document);
  } catch (const Cancelled&) {
    Q_EMIT failed(QStringLiteral("document"), tr("Opening %1 was cancelled.").arg(path));
  } catch (const std::exception& e) {
    Q_EMIT failed(QStringLiteral("document"), QString::fromUtf8(e.what()));
  }
  Q_EMIT idle();
}

void EngineWorker::run(const AskJob& job) {
  for (std::size_t i = 0; i < job.runs.size(); ++i) {
    const int index = int(i);
    const AskOptions& options = job.runs[i];
    if (cancel_->load()) {
      auto skipped = error_answer(job, options, tr("cancelled before it started"));
      skipped.stop_reason = "cancelled";
      skipped.error.clear();
      Q_EMIT answered(job.id, index, std::make_shared<const Answer>(std::move(skipped)));
      continue;
    }
    try {
      ensureModel(job.model, options.config);
    } catch (const std::exception& e) {
      reader_.reset();
      Q_EMIT failed(QStringLiteral("model"), QString::fromUtf8(e.what()));
      break;
    }
    Q_EMIT runStarted(job.id, index, QString::fromLatin1(mode_name(options.config.attention.mode)));
    QElapsedTimer clock, since_report;
    clock.start();
    since_report.start();
    AskEvents events;
    events.cancel = cancel_;
    events.reading = [&](std::int64_t done, std::int64_t total) {
      if (done < total && since_report.elapsed() < 50) return;
      since_report.restart();
      Q_EMIT reading(job.id, index, done, total, double(clock.nsecsElapsed()) / 1e9);
    };
    events.text = [&](std::string_view piece) {
      Q_EMIT textPiece(job.id, index, QString::fromUtf8(piece.data(), qsizetype(piece.size())));
    };
    try {
      auto answer = std::make_shared<const Answer>(reader_->ask(*job.document, job.question.toStdString(), options, events));
      Q_EMIT answered(job.id, index, answer);
    } catch (const std::exception& e) {
      Q_EMIT answered(job.id, index, std::make_shared<const Answer>(error_answer(job, options, QString::fromUtf8(e.what()))));
    }
  }
  Q_EMIT jobFinished(job.id);
  Q_EMIT idle();
}

}  // namespace qread::ui
