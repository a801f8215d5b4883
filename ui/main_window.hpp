#pragma once

#include "answer_store.hpp"
#include "app_settings.hpp"
#include "engine_types.hpp"

#include <QMainWindow>

#include <vector>

class QComboBox;
class QLabel;
class QListWidget;
class QMenu;
class QPlainTextEdit;
class QProgressBar;
class QPushButton;
class QTabWidget;
class QTextBrowser;

namespace qread::ui {

class CompareView;
class DocumentView;
class Engine;
class HitMapView;
class TimingPanel;

// The application window: the document on the left; the question, the streamed answer, the
// comparison, the block hit map, the timings and the session's history on the right. All
// engine work goes through Engine (a worker thread); this class only reacts to its signals.
class MainWindow : public QMainWindow {
  Q_OBJECT
 public:
  explicit MainWindow(QWidget* parent = nullptr);
  ~MainWindow() override;

  // The status bar's text: qread and LibTorch versions, device, threads (empty until the
  // engine thread has started).
  QString runtimeSummary() const;
  // The text of Help > About.
  QString aboutText() const;

  Engine& engine() const { return *engine_; }
  const AppSettings& settings() const { return settings_; }
  // Applies and saves new settings (the model is reloaded when it changed).
  void setSettings(const AppSettings& settings);
  const DocumentPtr& document() const { return document_; }
  const std::vector<AnswerPtr>& sessionAnswers() const { return session_; }
  const AnswerPtr& currentAnswer() const { return current_; }
  AnswerStore& answerStore() { return store_; }

  DocumentView* documentView() const { return document_view_; }
  HitMapView* hitMapView() const { return hit_map_; }
  CompareView* compareView() const { return compare_; }
  TimingPanel* timingPanel() const { return timing_; }
  QTextBrowser* answerView() const { return answer_view_; }
  QPlainTextEdit* questionEdit() const { return question_; }
  QTabWidget* tabs() const { return tabs_; }
  QWidget* savedAnswersBar() const { return saved_bar_; }
  QProgressBar* progressBar() const { return progress_; }
  QPushButton* cancelButton() const { return cancel_button_; }

 public Q_SLOTS:
  void openDocument(const QString& path);
  void chooseDocument();
  void setModel(const QString& path);
  void chooseModelFolder();
  void chooseModelFile();
  void ask();      // the question box's question, with the preset's mode
  void compare();  // the question box's question, with each mode picked in the Compare tab
  void cancel();
  void showSettings();
  // Writes the session's answers to `path` (.md, .json or .pdf); false on failure (a dialog
  // says why).
  bool exportAnswers(const QString& path);
  void chooseExport(const QString& extension);
  void restoreSavedAnswers();
  void showAnswer(const qread::ui::AnswerPtr& answer);
  // Shows memory block `block` of the hit map's answer in the document pane.
  void showBlock(int block);
  void showAbout();

 Q_SIGNALS:
  void documentOpened(const QString& path);
  void answerFinished(const qread::ui::AnswerPtr& answer);
  void jobDone();
  void errorShown(const QString& title, const QString& message);

 protected:
  void dragEnterEvent(QDragEnterEvent* event) override;
  void dropEvent(QDropEvent* event) override;
  void closeEvent(QCloseEvent* event) override;

 private:
  void buildActions();
  void buildPanes();
  void connectEngine();
  void start(const QString& question, const std::vector<AskOptions>& runs, bool comparing);
  void onAnswered(int job, int index, const AnswerPtr& answer);
  void onReading(int job, int index, qint64 done, qint64 total, double seconds);
  void onDocumentLoaded(const DocumentPtr& document);
  void onFailed(const QString& what, const QString& message);
  void setBusy(bool busy);
  void showError(const QString& title, const QString& message);
  void saveSettings();
  void refreshRecentMenus();
  void refreshPresetBox();
  ModelChoice modelChoice() const;
  void addToHistory(const AnswerPtr& answer);

  Engine* engine_ = nullptr;
  AppSettings settings_;
  AnswerStore store_;
  DocumentPtr document_;
  QString opening_;  // the document being loaded
  std::vector<AnswerPtr> session_;
  std::vector<Answer> saved_;  // offered by the saved-answers bar
  AnswerPtr current_;
  int job_ = 0;
  bool running_ = false;  // a question or comparison is on the engine thread
  bool comparing_ = false;
  int compare_total_ = 0;
  QString streamed_;

  DocumentView* document_view_ = nullptr;
  QPlainTextEdit* question_ = nullptr;
  QPushButton* ask_button_ = nullptr;
  QPushButton* compare_button_ = nullptr;
  QPushButton* cancel_button_ = nullptr;
  QProgressBar* progress_ = nullptr;
  QLabel* progress_label_ = nullptr;
  QWidget* progress_row_ = nullptr;
  QWidget* saved_bar_ = nullptr;
  QLabel* saved_label_ = nullptr;
  QTabWidget* tabs_ = nullptr;
  QTextBrowser* answer_view_ = nullptr;
  CompareView* compare_ = nullptr;
  HitMapView* hit_map_ = nullptr;
  TimingPanel* timing_ = nullptr;
  QListWidget* history_ = nullptr;
  QComboBox* preset_box_ = nullptr;
  QComboBox* device_box_ = nullptr;
  QComboBox* dtype_box_ = nullptr;
  QMenu* recent_documents_ = nullptr;
  QMenu* recent_models_ = nullptr;
  QLabel* runtime_label_ = nullptr;
  QLabel* model_label_ = nullptr;
  QLabel* host_memory_label_ = nullptr;
  QLabel* gpu_memory_label_ = nullptr;
  QString runtime_summary_;
};

}  // namespace qread::ui
