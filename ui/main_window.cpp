#include "main_window.hpp"

#include "answer_format.hpp"
#include "compare_view.hpp"
#include "document_view.hpp"
#include "engine.hpp"
#include "export.hpp"
#include "hit_map_view.hpp"
#include "settings_dialog.hpp"
#include "timing_panel.hpp"
#include "qread/version.hpp"

#include <QApplication>
#include <QCloseEvent>
#include <QComboBox>
#include <QDir>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QLabel>
#include <QListWidget>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QSettings>
#include <QShortcut>
#include <QSplitter>
#include <QStatusBar>
#include <QStyle>
#include <QTabWidget>
#include <QTextBrowser>
#include <QToolBar>
#include <QVBoxLayout>

namespace qread::ui {

namespace {

bool looks_like_model(const QString& path) {
  const QFileInfo info(path);
  if (info.isFile()) return path.endsWith(QStringLiteral(".gguf"), Qt::CaseInsensitive);
  return info.isDir() && QFileInfo::exists(path + QStringLiteral("/config.json"));
}

QString short_name(const QString& path) { return QFileInfo(path).fileName(); }

}  // namespace

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent) {
  setWindowTitle(QStringLiteral("qread"));
  setWindowIcon(QIcon(QStringLiteral(":/icons/qread.svg")));
  setAcceptDrops(true);
  resize(1400, 900);
  {
    QSettings s;
    settings_ = AppSettings::load(s);
    restoreGeometry(s.value(QStringLiteral("window/geometry")).toByteArray());
  }
  engine_ = new Engine(this);
  buildPanes();
  buildActions();
  connectEngine();
  setBusy(engine_->busy());  // the engine thread is starting
  engine_->startMemoryMonitor();
  if (!settings_.model_path.isEmpty() && QFileInfo::exists(settings_.model_path)) engine_->loadModel(modelChoice());
}

MainWindow::~MainWindow() {
  delete engine_;  // cancels and waits for the engine thread before the widgets go
  engine_ = nullptr;
}

ModelChoice MainWindow::modelChoice() const { return {settings_.model_path, settings_.device, settings_.dtype}; }

void MainWindow::buildPanes() {
  document_view_ = new DocumentView(this);

  question_ = new QPlainTextEdit(this);
  question_->setObjectName(QStringLiteral("question"));
  question_->setPlaceholderText(tr("Ask a question about the document…  (Ctrl+Enter)"));
  question_->setMaximumHeight(84);
  ask_button_ = new QPushButton(style()->standardIcon(QStyle::SP_MediaPlay), tr("Ask"), this);
  ask_button_->setObjectName(QStringLiteral("ask"));
  ask_button_->setDefault(true);
  compare_button_ = new QPushButton(tr("Compare modes"), this);
  cancel_button_ = new QPushButton(style()->standardIcon(QStyle::SP_BrowserStop), tr("Cancel"), this);
  cancel_button_->setObjectName(QStringLiteral("cancel"));
  cancel_button_->setEnabled(false);
  auto* buttons = new QVBoxLayout;
  buttons->addWidget(ask_button_);
  buttons->addWidget(compare_button_);
  buttons->addWidget(cancel_button_);
  buttons->addStretch(1);
  auto* question_row = new QHBoxLayout;
  question_row->addWidget(question_, 1);
  question_row->addLayout(buttons);
  connect(ask_button_, &QPushButton::clicked, this, &MainWindow::ask);
  connect(compare_button_, &QPushButton::clicked, this, &MainWindow::compare);
  connect(cancel_button_, &QPushButton::clicked, this, &MainWindow::cancel);
  auto* shortcut = new QShortcut(QKeySequence(Qt::CTRL | Qt::Key_Return), question_);
  shortcut->setContext(Qt::WidgetShortcut);
  connect(shortcut, &QShortcut::activated, this, &MainWindow::ask);

  progress_row_ = new QWidget(this);
  progress_ = new QProgressBar(progress_row_);
  progress_->setRange(0, 1000);
  progress_->setTextVisible(false);
  progress_label_ = new QLabel(progress_row_);
  auto* progress_layout = new QHBoxLayout(progress_row_);
  progress_layout->setContentsMargins(0, 0, 0, 0);
  progress_layout->addWidget(progress_, 1);
  progress_layout->addWidget(progress_label_, 2);
  progress_row_->hide();

  saved_bar_ = new QFrame(this);
  saved_bar_->setObjectName(QStringLiteral("savedAnswersBar"));
  saved_bar_->setStyleSheet(QStringLiteral("#savedAnswersBar{background:#eef5ff;border:1px solid #9bbbe8;border-radius:4px}"));
  saved_label_ = new QLabel(saved_bar_);
  auto* show_saved = new QPushButton(tr("Show them"), saved_bar_);
  show_saved->setObjectName(QStringLiteral("showSaved"));
  auto* dismiss_saved = new QPushButton(tr("Dismiss"), saved_bar_);
  auto* saved_layout = new QHBoxLayout(saved_bar_);
  saved_layout->setContentsMargins(8, 4, 8, 4);
  saved_layout->addWidget(saved_label_, 1);
  saved_layout->addWidget(show_saved);
  saved_layout->addWidget(dismiss_saved);
  saved_bar_->hide();
  connect(show_saved, &QPushButton::clicked, this, &MainWindow::restoreSavedAnswers);
  connect(dismiss_saved, &QPushButton::clicked, saved_bar_, &QWidget::hide);

  tabs_ = new QTabWidget(this);
  answer_view_ = new QTextBrowser(this);
  answer_view_->setObjectName(QStringLiteral("answer"));
  answer_view_->setOpenLinks(false);
  answer_view_->setHtml(tr("<p style='color:#777'>Open a document, choose a model (Model ▸ Choose model), then "
                           "ask a question. The answer streams here, with the pages it drew on.</p>"));
  connect(answer_view_, &QTextBrowser::anchorClicked, this, [this](const QUrl& url) {
    if (url.scheme() == QStringLiteral("page")) document_view_->showPage(url.path().toInt());
  });
  compare_ = new CompareView(this);
  connect(compare_, &CompareView::runRequested, this, &MainWindow::compare);
  connect(compare_, &CompareView::pageRequested, document_view_, &DocumentView::showPage);
  hit_map_ = new HitMapView(this);
  connect(hit_map_, &HitMapView::blockClicked, this, [this](int block, int) { showBlock(block); });
  timing_ = new TimingPanel(this);
  history_ = new QListWidget(this);
  history_->setObjectName(QStringLiteral("history"));
  connect(history_, &QListWidget::currentRowChanged, this, [this](int row) {
    if (row >= 0 && std::size_t(row) < session_.size()) showAnswer(session_[std::size_t(row)]);
  });
  tabs_->addTab(answer_view_, tr("Answer"));
  tabs_->addTab(compare_, tr("Compare"));
  tabs_->addTab(hit_map_, tr("Hit map"));
  tabs_->addTab(timing_, tr("Timing"));
  tabs_->addTab(history_, tr("History"));

  auto* right = new QWidget(this);
  auto* right_layout = new QVBoxLayout(right);
  right_layout->setContentsMargins(6, 6, 6, 6);
  right_layout->addLayout(question_row);
  right_layout->addWidget(progress_row_);
  right_layout->addWidget(saved_bar_);
  right_layout->addWidget(tabs_, 1);

  auto* splitter = new QSplitter(Qt::Horizontal, this);
  splitter->addWidget(document_view_);
  splitter->addWidget(right);
  splitter->setStretchFactor(0, 5);
  splitter->setStretchFactor(1, 5);
  splitter->setChildrenCollapsible(false);
  setCentralWidget(splitter);

  runtime_label_ = new QLabel(this);
  model_label_ = new QLabel(tr("no model"), this);
  host_memory_label_ = new QLabel(this);
  gpu_memory_label_ = new QLabel(this);
  host_memory_label_->setToolTip(tr("Host memory in use (resident set)"));
  gpu_memory_label_->setToolTip(tr("GPU memory allocated by the engine"));
  statusBar()->addPermanentWidget(model_label_);
  statusBar()->addPermanentWidget(runtime_label_);
  statusBar()->addPermanentWidget(gpu_memory_label_);
  statusBar()->addPermanentWidget(host_memory_label_);
}

void MainWindow::buildActions() {
  auto* file = menuBar()->addMenu(tr("&File"));
  auto* open = file->addAction(style()->standardIcon(QStyle::SP_DialogOpenButton), tr("&Open document…"), QKeySequence::Open,
                               this, &MainWindow::chooseDocument);
  recent_documents_ = file->addMenu(tr("Open &recent"));
  file->addSeparator();
  auto* export_menu = file->addMenu(style()->standardIcon(QStyle::SP_DialogSaveButton), tr("&Export answers"));
  export_menu->addAction(tr("as &Markdown…"), this, [this] { chooseExport(QStringLiteral("md")); });
  export_menu->addAction(tr("as &JSON…"), this, [this] { chooseExport(QStringLiteral("json")); });
  export_menu->addAction(tr("as &PDF…"), this, [this] { chooseExport(QStringLiteral("pdf")); });
  file->addSeparator();
  file->addAction(tr("&Quit"), QKeySequence::Quit, this, &QWidget::close);

  auto* model = menuBar()->addMenu(tr("&Model"));
  auto* choose_model = model->addAction(style()->standardIcon(QStyle::SP_DirIcon), tr("Choose model &folder…"), this,
                                        &MainWindow::chooseModelFolder);
  model->addAction(tr("Choose &GGUF file…"), this, &MainWindow::chooseModelFile);
  recent_models_ = model->addMenu(tr("&Recent models"));

  auto* tools = menuBar()->addMenu(tr("&Tools"));
  auto* settings = tools->addAction(style()->standardIcon(QStyle::SP_FileDialogDetailedView), tr("&Settings…"),
                                    QKeySequence::Preferences, this, &MainWindow::showSettings);
  tools->addAction(tr("&Cancel"), QKeySequence(Qt::Key_Escape), this, &MainWindow::cancel);

  auto* help = menuBar()->addMenu(tr("&Help"));
  help->addAction(tr("&About qread"), this, &MainWindow::showAbout);

  auto* bar = addToolBar(tr("Main"));
  bar->setObjectName(QStringLiteral("mainToolBar"));
  bar->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
  bar->setMovable(false);
  bar->addAction(open);
  bar->addAction(choose_model);
  bar->addSeparator();
  bar->addWidget(new QLabel(tr(" Mode: "), this));
  preset_box_ = new QComboBox(this);
  preset_box_->setObjectName(QStringLiteral("presetBox"));
  preset_box_->setMinimumContentsLength(22);
  preset_box_->setToolTip(tr("Context-memory mode: a built-in mode or a preset from config/"));
  bar->addWidget(preset_box_);
  bar->addWidget(new QLabel(tr("  Device: "), this));
  device_box_ = new QComboBox(this);
  device_box_->addItems({QStringLiteral("cpu"), QStringLiteral("cuda")});
  if (device_box_->findText(settings_.device) < 0) device_box_->addItem(settings_.device);
  device_box_->setCurrentText(settings_.device);
  bar->addWidget(device_box_);
  bar->addWidget(new QLabel(tr("  dtype: "), this));
  dtype_box_ = new QComboBox(this);
  dtype_box_->addItems({QStringLiteral("auto"), QStringLiteral("float32"), QStringLiteral("bfloat16"), QStringLiteral("float16")});
  dtype_box_->setCurrentText(settings_.dtype);
  bar->addWidget(dtype_box_);
  bar->addSeparator();
  bar->addAction(settings);
  auto* export_action = bar->addAction(style()->standardIcon(QStyle::SP_DialogSaveButton), tr("Export"));
  export_action->setMenu(export_menu);
  connect(export_action, &QAction::triggered, this, [this] { chooseExport(QStringLiteral("md")); });

  refreshPresetBox();
  connect(preset_box_, &QComboBox::currentIndexChanged, this, [this](int index) {
    if (index < 0) return;
    AppSettings s = settings_;
    s.preset = preset_box_->itemData(index).toString();
    setSettings(s);
  });
  auto device_changed = [this] {
    AppSettings s = settings_;
    s.device = device_box_->currentText();
    s.dtype = dtype_box_->currentText();
    setSettings(s);
  };
  connect(device_box_, &QComboBox::currentTextChanged, this, device_changed);
  connect(dtype_box_, &QComboBox::currentTextChanged, this, device_changed);
  refreshRecentMenus();
}

void MainWindow::refreshPresetBox() {
  const QSignalBlocker block(preset_box_);
  preset_box_->clear();
  for (const Preset& p : available_presets()) preset_box_->addItem(p.label, p.id);
  int at = preset_box_->findData(settings_.preset);
  if (at < 0) {
    preset_box_->addItem(QFileInfo(settings_.preset).completeBaseName(), settings_.preset);
    at = preset_box_->count() - 1;
  }
  preset_box_->setCurrentIndex(at);
}

void MainWindow::refreshRecentMenus() {
  recent_documents_->clear();
  for (const QString& path : settings_.recent_documents)
    recent_documents_->addAction(short_name(path), this, [this, path] { openDocument(path); })->setToolTip(path);
  recent_documents_->setEnabled(!settings_.recent_documents.isEmpty());
  recent_models_->clear();
  for (const QString& path : settings_.recent_models)
    recent_models_->addAction(path, this, [this, path] { setModel(path); });
  recent_models_->setEnabled(!settings_.recent_models.isEmpty());
}

void MainWindow::connectEngine() {
  connect(engine_, &Engine::runtimeReady, this, [this](const QString& summary, const QString& devices) {
    runtime_summary_ = summary;
    runtime_label_->setText(summary);
    runtime_label_->setToolTip(tr("Devices: %1").arg(devices));
  });
  connect(engine_, &Engine::modelLoaded, this, [this](const ModelChoice& choice, const QString& summary) {
    model_label_->setText(tr("Model: %1").arg(short_name(choice.path)));
    model_label_->setToolTip(QStringLiteral("%1\n%2").arg(choice.path, summary));
    statusBar()->showMessage(tr("Model loaded: %1 (%2)").arg(short_name(choice.path), summary), 8000);
  });
  connect(engine_, &Engine::documentProgress, this, [this](int done, int total) {
    progress_row_->show();
    progress_->setValue(total > 0 ? done * 1000 / total : 0);
    progress_label_->setText(tr("Opening %1: page %2 of %3").arg(short_name(opening_)).arg(done).arg(total));
  });
  connect(engine_, &Engine::documentLoaded, this, &MainWindow::onDocumentLoaded);
  connect(engine_, &Engine::runStarted, this, [this](int job, int index, const QString&) {
    if (job != job_) return;
    if (comparing_) compare_->columnStarted(index);
    progress_->setValue(0);
  });
  connect(engine_, &Engine::reading, this, &MainWindow::onReading);
  connect(engine_, &Engine::textPiece, this, [this](int job, int index, const QString& piece) {
    if (job != job_) return;
    if (comparing_) {
      compare_->appendText(index, piece);
    } else {
      if (streamed_.isEmpty()) progress_label_->setText(tr("Answering…"));
      streamed_ += piece;
      QTextCursor cursor(answer_view_->document());
      cursor.movePosition(QTextCursor::End);
      cursor.insertText(piece);
      answer_view_->ensureCursorVisible();
    }
    progress_->setValue(1000);
  });
  connect(engine_, &Engine::answered, this, &MainWindow::onAnswered);
  connect(engine_, &Engine::jobFinished, this, [this](int job) {
    if (job != job_) return;
    running_ = false;
    setBusy(engine_->busy());
    Q_EMIT jobDone();
  });
  connect(engine_, &Engine::failed, this, &MainWindow::onFailed);
  connect(engine_, &Engine::busyChanged, this, &MainWindow::setBusy);
  connect(engine_, &Engine::memoryChanged, this, [this](long long host, long long gpu) {
    host_memory_label_->setText(tr("Host %1").arg(format_bytes(host)));
    gpu_memory_label_->setText(tr("GPU %1").arg(format_bytes(gpu)));
  });
}

QString MainWindow::runtimeSummary() const { return runtime_summary_; }

QString MainWindow::aboutText() const {
  return tr("<h3>qread %1</h3><p>Ask questions about long documents with a local LLM, using "
            "query-aware context memory (Q-LLM).</p><p>%2</p>")
      .arg(QString::fromLatin1(qread::kVersion), runtimeSummary());
}

void MainWindow::showAbout() { QMessageBox::about(this, tr("About qread"), aboutText()); }

void MainWindow::setSettings(const AppSettings& settings) {
  const bool model_changed = !(modelChoice() == ModelChoice{settings.model_path, settings.device, settings.dtype});
  settings_ = settings;
  saveSettings();
  refreshPresetBox();
  {
    const QSignalBlocker a(device_box_), b(dtype_box_);
    if (device_box_->findText(settings_.device) < 0) device_box_->addItem(settings_.device);
    device_box_->setCurrentText(settings_.device);
    dtype_box_->setCurrentText(settings_.dtype);
  }
  try {
    (void)run_config(settings_);
  } catch (const std::exception& e) {
    statusBar()->showMessage(tr("The run config is not valid: %1").arg(QString::fromUtf8(e.what())), 10000);
  }
  if (model_changed && !settings_.model_path.isEmpty()) engine_->loadModel(modelChoice());
}

void MainWindow::saveSettings() {
  QSettings s;
  settings_.save(s);
}

void MainWindow::chooseDocument() {
  const QString dir = settings_.recent_documents.isEmpty() ? QDir::homePath() : QFileInfo(settings_.recent_documents.first()).absolutePath();
  const QString path = QFileDialog::getOpenFileName(this, tr("Open document"), dir,
                                                    tr("Documents (*.pdf *.txt *.md *.markdown);;All files (*)"));
  if (!path.isEmpty()) openDocument(path);
}

void MainWindow::openDocument(const QString& path) {
  if (engine_->busy() && !opening_.isEmpty()) {
    statusBar()->showMessage(tr("Still opening %1").arg(short_name(opening_)), 4000);
    return;
  }
  opening_ = QFileInfo(path).absoluteFilePath();
  progress_row_->show();
  progress_->setValue(0);
  progress_label_->setText(tr("Opening %1…").arg(short_name(opening_)));
  engine_->loadDocument(opening_);
}

void MainWindow::onDocumentLoaded(const DocumentPtr& document) {
  const QString path = opening_.isEmpty() ? QString::fromStdString(document->source().string()) : opening_;
  opening_.clear();
  progress_row_->hide();
  document_ = document;
  QString error;
  if (!document_view_->setDocument(document, &error)) statusBar()->showMessage(error, 10000);
  setWindowTitle(tr("%1 — qread").arg(short_name(path)));
  AppSettings::remember(settings_.recent_documents, path);
  saveSettings();
  refreshRecentMenus();
  session_.clear();
  history_->clear();
  current_.reset();
  hit_map_->setAnswer(nullptr, nullptr);
  timing_->setAnswer(nullptr);
  QString message = tr("%1: %2 pages, %3 characters").arg(short_name(path)).arg(document->pages().size()).arg(document->text().size());
  for (const auto& warning : document->warnings()) message += QStringLiteral(" · ") + QString::fromStdString(warning);
  statusBar()->showMessage(message, 10000);
  // Answers saved in earlier sessions.
  QString load_error;
  saved_ = store_.load(path, &load_error);
  if (!load_error.isEmpty()) statusBar()->showMessage(tr("Saved answers could not be read: %1").arg(load_error), 10000);
  if (!saved_.empty()) {
    saved_label_->setText(tr("%n answer(s) about this document were saved in earlier sessions.", nullptr, int(saved_.size())));
    saved_bar_->show();
  } else {
    saved_bar_->hide();
  }
  Q_EMIT documentOpened(path);
}

void MainWindow::restoreSavedAnswers() {
  saved_bar_->hide();
  for (Answer& a : saved_) addToHistory(std::make_shared<const Answer>(std::move(a)));
  saved_.clear();
  if (!session_.empty()) showAnswer(session_.back());
}

void MainWindow::setModel(const QString& path) {
  AppSettings s = settings_;
  s.model_path = path;
  AppSettings::remember(s.recent_models, path);
  setSettings(s);
  refreshRecentMenus();
  if (!path.isEmpty()) engine_->loadModel(modelChoice());  // reload even if unchanged: the user asked
}

void MainWindow::chooseModelFolder() {
  const QString dir = QFileDialog::getExistingDirectory(this, tr("Model folder (Hugging Face layout)"), settings_.model_path);
  if (!dir.isEmpty()) setModel(dir);
}

void MainWindow::chooseModelFile() {
  const QString file = QFileDialog::getOpenFileName(this, tr("GGUF model"), settings_.model_path, tr("GGUF models (*.gguf)"));
  if (!file.isEmpty()) setModel(file);
}

void MainWindow::start(const QString& question, const std::vector<AskOptions>& runs, bool comparing) {
  comparing_ = comparing;
  compare_total_ = int(runs.size());
  streamed_.clear();
  job_ = engine_->ask(question, document_, modelChoice(), runs);
  running_ = true;
  setBusy(true);
  progress_row_->show();
  progress_->setValue(0);
  progress_label_->setText(tr("Starting…"));
}

void MainWindow::ask() {
  const QString question = question_->toPlainText().trimmed();
  if (!document_) return showError(tr("No document"), tr("Open a document first (File ▸ Open)."));
  if (settings_.model_path.isEmpty()) return showError(tr("No model"), tr("Choose a model folder first (Model ▸ Choose model folder)."));
  if (question.isEmpty()) return showError(tr("No question"), tr("Type a question about the document."));
  if (running_) return statusBar()->showMessage(tr("Busy: wait for the current question to finish, or cancel it."), 4000);
  std::vector<AskOptions> runs;
  try {
    runs.push_back(ask_options(settings_));
  } catch (const std::exception& e) {
    return showError(tr("Invalid settings"), QString::fromUtf8(e.what()));
  }
  tabs_->setCurrentWidget(answer_view_);
  answer_view_->setHtml(QStringLiteral("<h3>%1</h3><p></p>").arg(question.toHtmlEscaped()));
  QTextCursor cursor(answer_view_->document());
  cursor.movePosition(QTextCursor::End);
  answer_view_->setTextCursor(cursor);
  start(question, runs, false);
}

void MainWindow::compare() {
  const QString question = question_->toPlainText().trimmed();
  if (!document_) return showError(tr("No document"), tr("Open a document first (File ▸ Open)."));
  if (settings_.model_path.isEmpty()) return showError(tr("No model"), tr("Choose a model folder first (Model ▸ Choose model folder)."));
  if (question.isEmpty()) return showError(tr("No question"), tr("Type a question about the document."));
  const QList<MemoryMode> modes = compare_->selectedModes();
  if (modes.isEmpty()) return showError(tr("No modes"), tr("Pick at least one mode to compare in the Compare tab."));
  if (running_) return statusBar()->showMessage(tr("Busy: wait for the current question to finish, or cancel it."), 4000);
  std::vector<AskOptions> runs;
  try {
    for (MemoryMode mode : modes) runs.push_back(ask_options(settings_, mode));
  } catch (const std::exception& e) {
    return showError(tr("Invalid settings"), QString::fromUtf8(e.what()));
  }
  tabs_->setCurrentWidget(compare_);
  compare_->begin(question, modes);
  compare_->setRunning(true);
  start(question, runs, true);
}

void MainWindow::cancel() {
  if (!engine_->busy()) return;
  engine_->cancel();
  progress_label_->setText(tr("Cancelling…"));
}

void MainWindow::onReading(int job, int index, qint64 done, qint64 total, double seconds) {
  if (job != job_ || total <= 0) return;
  progress_->setValue(int(done * 1000 / total));
  const double rate = seconds > 0 ? double(done) / seconds : 0;
  const QString left = rate > 0 ? format_seconds(double(total - done) / rate) : QStringLiteral("…");
  QString text = tr("Reading %1 % · %2 of %3 tokens · %4 · %5 left")
                     .arg(done * 100 / total)
                     .arg(done)
                     .arg(total)
                     .arg(format_rate(rate), left);
  if (comparing_) text = tr("%1/%2: ").arg(index + 1).arg(compare_total_) + text;
  progress_label_->setText(text);
}

void MainWindow::addToHistory(const AnswerPtr& answer) {
  session_.push_back(answer);
  const auto mode = parse_mode(answer->mode);
  auto* item = new QListWidgetItem(QStringLiteral("%1 · %2 · %3")
                                       .arg(mode ? mode_label(*mode) : QString::fromStdString(answer->mode),
                                            QString::fromStdString(answer->question).left(90),
                                            QString::fromStdString(answer->stop_reason)));
  item->setToolTip(QString::fromStdString(answer->finished_at));
  const QSignalBlocker block(history_);
  history_->addItem(item);
}

void MainWindow::showAnswer(const AnswerPtr& answer) {
  current_ = answer;
  if (!answer) return;
  answer_view_->setHtml(answer_html(*answer, true));
  const bool same_document = document_ && QString::fromStdString(answer->document) == QString::fromStdString(document_->source().string());
  hit_map_->setAnswer(answer, same_document ? document_ : nullptr);
  timing_->setAnswer(answer);
}

void MainWindow::onAnswered(int job, int index, const AnswerPtr& answer) {
  if (job != job_) return;
  if (answer->stop_reason != "error") {
    QString error;  // autosave first: a crash from here on loses nothing
    if (!store_.append(QString::fromStdString(answer->document), *answer, &error))
      statusBar()->showMessage(tr("The answer could not be saved: %1").arg(error), 10000);
    // Another document may have been opened meanwhile: its session does not get this answer.
    if (document_ && answer->document == document_->source().string()) addToHistory(answer);
  }
  if (comparing_) {
    compare_->setAnswer(index, answer);
    if (answer->stop_reason != "error" && !answer->hit_map.empty()) {
      current_ = answer;
      hit_map_->setAnswer(answer, document_);
      timing_->setAnswer(answer);
    }
  } else if (answer->stop_reason == "error") {
    answer_view_->setHtml(answer_html(*answer, true));
    const QString message = QString::fromStdString(answer->error);
    const bool oom = message.contains(QStringLiteral("out of memory"), Qt::CaseInsensitive);
    showError(oom ? tr("Out of GPU memory") : tr("The question could not be answered"),
              oom ? tr("%1\n\nTry a smaller chunk_size, n_local or max_cached_block, a smaller dtype, or the CPU.").arg(message)
                  : message);
  } else {
    showAnswer(answer);
    statusBar()->showMessage(answer_summary(*answer), 15000);
  }
  Q_EMIT answerFinished(answer);
}

void MainWindow::onFailed(const QString& what, const QString& message) {
  if (what == QStringLiteral("document")) {
    const QString path = opening_;
    opening_.clear();
    progress_row_->hide();
    showError(tr("Cannot open %1").arg(short_name(path)), message);
  } else if (what == QStringLiteral("model")) {
    model_label_->setText(tr("no model"));
    const bool oom = message.contains(QStringLiteral("out of memory"), Qt::CaseInsensitive);
    showError(oom ? tr("Out of GPU memory") : tr("Cannot load the model"), message);
  } else {
    showError(tr("Error"), message);
  }
}

void MainWindow::setBusy(bool busy) {
  // Questions queue behind a model or document load on the engine thread; only one question
  // (or comparison) runs at a time.
  ask_button_->setEnabled(!running_);
  compare_button_->setEnabled(!running_);
  compare_->setRunning(running_);
  cancel_button_->setEnabled(busy);
  if (!busy) progress_row_->hide();
}

void MainWindow::showError(const QString& title, const QString& message) {
  auto* box = new QMessageBox(QMessageBox::Warning, title, message, QMessageBox::Ok, this);
  box->setObjectName(QStringLiteral("errorDialog"));
  box->setAttribute(Qt::WA_DeleteOnClose);
  box->open();  // window-modal and asynchronous: the engine keeps running
  Q_EMIT errorShown(title, message);
}

void MainWindow::showSettings() {
  auto* dialog = new SettingsDialog(settings_, this);
  dialog->setAttribute(Qt::WA_DeleteOnClose);
  connect(dialog, &QDialog::accepted, this, [this, dialog] {
    AppSettings s = dialog->settings();
    if (s.model_path != settings_.model_path && !s.model_path.isEmpty()) AppSettings::remember(s.recent_models, s.model_path);
    setSettings(s);
    refreshRecentMenus();
  });
  dialog->open();
}

bool MainWindow::exportAnswers(const QString& path) {
  std::vector<Answer> answers;
  for (const auto& a : session_) answers.push_back(*a);
  const QString title = document_ ? tr("qread answers about %1").arg(short_name(QString::fromStdString(document_->source().string())))
                                  : tr("qread answers");
  QString error;
  if (!export_answers(answers, title, export_format_of(path), path, &error)) {
    showError(tr("Export failed"), error);
    return false;
  }
  statusBar()->showMessage(tr("Exported %1 answers to %2").arg(answers.size()).arg(path), 8000);
  return true;
}

void MainWindow::chooseExport(const QString& extension) {
  if (session_.empty()) return showError(tr("Nothing to export"), tr("Ask a question first: the session has no answers yet."));
  const QString base = document_ ? QFileInfo(QString::fromStdString(document_->source().string())).completeBaseName() : QStringLiteral("qread");
  const QString filter = extension == QStringLiteral("pdf")    ? tr("PDF (*.pdf)")
                         : extension == QStringLiteral("json") ? tr("JSON (*.json)")
                                                               : tr("Markdown (*.md)");
  QString path = QFileDialog::getSaveFileName(this, tr("Export answers"),
                                              QDir::home().filePath(base + QStringLiteral("-answers.") + extension), filter);
  if (path.isEmpty()) return;
  if (QFileInfo(path).suffix().isEmpty()) path += QLatin1Char('.') + extension;
  exportAnswers(path);
}

void MainWindow::showBlock(int block) {
  const AnswerPtr answer = hit_map_->answer();
  if (!answer || block < 0 || std::size_t(block) >= answer->hit_map.blocks.size()) return;
  const MemoryBlock& b = answer->hit_map.blocks[std::size_t(block)];
  if (!document_ || QString::fromStdString(answer->document) != QString::fromStdString(document_->source().string())) {
    statusBar()->showMessage(tr("That answer is about another document."), 5000);
    return;
  }
  if (b.text_end <= b.text_begin) {
    statusBar()->showMessage(tr("Block %1 holds the prompt's template, not document text.").arg(block), 5000);
    return;
  }
  const int page = document_view_->showPassage(b.text_begin, b.text_end);
  statusBar()->showMessage(tr("Block %1: %2").arg(block).arg(QString::fromStdString(to_string(b.pages))), 5000);
  Q_UNUSED(page);
}

void MainWindow::dragEnterEvent(QDragEnterEvent* event) {
  if (event->mimeData()->hasUrls() && !event->mimeData()->urls().isEmpty() && event->mimeData()->urls().first().isLocalFile())
    event->acceptProposedAction();
}

void MainWindow::dropEvent(QDropEvent* event) {
  const QString path = event->mimeData()->urls().first().toLocalFile();
  if (looks_like_model(path))
    setModel(path);
  else
    openDocument(path);
  event->acceptProposedAction();
}

void MainWindow::closeEvent(QCloseEvent* event) {
  engine_->cancel();
  QSettings s;
  settings_.save(s);
  s.setValue(QStringLiteral("window/geometry"), saveGeometry());
  QMainWindow::closeEvent(event);
}

}  // namespace qread::ui
