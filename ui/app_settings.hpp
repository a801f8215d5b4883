// What the user chose, persisted with QSettings: model, preset, per-key overrides, generation
// parameters, device, recent files. Also where the YAML presets are and how a run's config is
// built from all of that.
#pragma once

#include "qread/config.hpp"
#include "qread/session.hpp"

#include <QString>
#include <QStringList>

class QSettings;

namespace qread::ui {

struct AppSettings {
  QString model_path;
  // A preset: "mode:qllm" for the engine's built-in settings of a mode, else a YAML file's path.
  QString preset = QStringLiteral("mode:qllm");
  QStringList overrides;  // "key=value", as `qread --set`
  int max_new_tokens = 256;
  double temperature = 0.0;
  double top_p = 1.0;
  int top_k = 0;
  qulonglong seed = 0;
  QString device = QStringLiteral("cpu");
  QString dtype = QStringLiteral("auto");
  QStringList recent_documents, recent_models;

  static AppSettings load(QSettings& settings);
  void save(QSettings& settings) const;
  // Puts `path` first in `list`, keeping at most 10 entries.
  static void remember(QStringList& list, const QString& path);
};

// A preset as the pickers list it.
struct Preset {
  QString id;     // AppSettings::preset
  QString label;  // "Q-LLM (built-in)", "smollm2-qllm"
};

// The folder of YAML presets: $QREAD_CONFIG_DIR, else <prefix>/share/qread/config next to the
// executable, else the source tree's config/ (a build that is not installed). Empty if none.
QString preset_folder();
// The built-in modes first, then the folder's *.yaml files by name.
QList<Preset> available_presets();
// "Q-LLM", "InfLLM", "StreamingLLM", "LM-Infinite", "Quest", "full attention".
QString mode_label(MemoryMode mode);
QList<MemoryMode> all_modes();

// The run config of `settings`: the preset, then the overrides. Throws qread::InputError with
// the engine's message (file, key, value) when something is invalid.
RunConfig run_config(const AppSettings& settings);
// The options of one run: run_config plus max_new_tokens and sampling; `mode` replaces the
// preset's mode (compare), keeping its other settings.
AskOptions ask_options(const AppSettings& settings, std::optional<MemoryMode> mode = std::nullopt);

}  // namespace qread::ui
