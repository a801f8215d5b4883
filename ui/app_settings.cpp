#include "app_settings.hpp"

#include "qread/error.hpp"

#include <QCoreApplication>
#include <QDir>
#include <QFileInfo>
#include <QSettings>

namespace qread::ui {

AppSettings AppSettings::load(QSettings& s) {
  AppSettings a;
  a.model_path = s.value(QStringLiteral("model/path"), a.model_path).toString();
  a.preset = s.value(QStringLiteral("run/preset"), a.preset).toString();
  a.overrides = s.value(QStringLiteral("run/overrides"), a.overrides).toStringList();
  a.max_new_tokens = s.value(QStringLiteral("generation/max_new_tokens"), a.max_new_tokens).toInt();
  a.temperature = s.value(QStringLiteral("generation/temperature"), a.temperature).toDouble();
  a.top_p = s.value(QStringLiteral("generation/top_p"), a.top_p).toDouble();
  a.top_k = s.value(QStringLiteral("generation/top_k"), a.top_k).toInt();
  a.seed = s.value(QStringLiteral("generation/seed"), a.seed).toULongLong();
  a.device = s.value(QStringLiteral("model/device"), a.device).toString();
  a.dtype = s.value(QStringLiteral("model/dtype"), a.dtype).toString();
  a.recent_documents = s.value(QStringLiteral("recent/documents")).toStringList();
  a.recent_models = s.value(QStringLiteral("recent/models")).toStringList();
  return a;
}

void AppSettings::save(QSettings& s) const {
  s.setValue(QStringLiteral("model/path"), model_path);
  s.setValue(QStringLiteral("run/preset"), preset);
  s.setValue(QStringLiteral("run/overrides"), overrides);
  s.setValue(QStringLiteral("generation/max_new_tokens"), max_new_tokens);
  s.setValue(QStringLiteral("generation/temperature"), temperature);
  s.setValue(QStringLiteral("generation/top_p"), top_p);
  s.setValue(QStringLiteral("generation/top_k"), top_k);
  s.setValue(QStringLiteral("generation/seed"), seed);
  s.setValue(QStringLiteral("model/device"), device);
  s.setValue(QStringLiteral("model/dtype"), dtype);
  s.setValue(QStringLiteral("recent/documents"), recent_documents);
  s.setValue(QStringLiteral("recent/models"), recent_models);
}

void AppSettings::remember(QStringList& list, const QString& path) {
  list.removeAll(path);
  list.prepend(path);
  while (list.size() > 10) list.removeLast();
}

QString preset_folder() {
  const QString env = qEnvironmentVariable("QREAD_CONFIG_DIR");
  if (!env.isEmpty() && QFileInfo(env).isDir()) return env;
  const QString installed = QCoreApplication::applicationDirPath() + QStringLiteral("/../share/qread/config");
  if (QFileInfo(installed).isDir()) return QDir(installed).canonicalPath();
#ifdef QREAD_SOURCE_CONFIG_DIR
  if (QFileInfo(QStringLiteral(QREAD_SOURCE_CONFIG_DIR)).isDir()) return QStringLiteral(QREAD_SOURCE_CONFIG_DIR);
#endif
  return {};
}

QList<MemoryMode> all_modes() {
  return {MemoryMode::qllm, MemoryMode::inf_llm, MemoryMode::stream_llm, MemoryMode::infinite_lm,
          MemoryMode::quest, MemoryMode::origin};
}

QString mode_label(MemoryMode mode) {
  switch (mode) {
    case MemoryMode::qllm: return QStringLiteral("Q-LLM");
    case MemoryMode::inf_llm: return QStringLiteral("InfLLM");
    case MemoryMode::stream_llm: return QStringLiteral("StreamingLLM");
    case MemoryMode::infinite_lm: return QStringLiteral("LM-Infinite");
    case MemoryMode::quest: return QStringLiteral("Quest");
    case MemoryMode::origin: return QStringLiteral("full attention");
  }
  return {};
}

QList<Preset> available_presets() {
  QList<Preset> presets;
  for (MemoryMode mode : all_modes())
    presets.append({QStringLiteral("mode:") + QString::fromLatin1(mode_name(mode)),
                    QCoreApplication::translate("qread", "%1 (built-in)").arg(mode_label(mode))});
  const QString folder = preset_folder();
  if (!folder.isEmpty()) {
    const QDir dir(folder);
    for (const QFileInfo& f : dir.entryInfoList({QStringLiteral("*.yaml")}, QDir::Files, QDir::Name))
      presets.append({f.absoluteFilePath(), f.completeBaseName()});
  }
  return presets;
}

RunConfig run_config(const AppSettings& settings) {
  RunConfig config;
  if (settings.preset.startsWith(QStringLiteral("mode:"))) {
    const auto name = settings.preset.mid(5).toStdString();
    const auto mode = parse_mode(name);
    if (!mode) throw InputError("preset: '" + name + "' is not a mode");
    config = default_config(*mode);
  } else {
    config = load_config(settings.preset.toStdString());
  }
  std::vector<std::string> assignments;
  for (const QString& o : settings.overrides)
    if (!o.trimmed().isEmpty()) assignments.push_back(o.trimmed().toStdString());
  apply_overrides(config, assignments);
  return config;
}

AskOptions ask_options(const AppSettings& settings, std::optional<MemoryMode> mode) {
  AskOptions options;
  options.config = run_config(settings);
  if (mode && *mode != options.config.attention.mode) {
    options.config.attention.mode = *mode;
    validate(options.config, "the " + std::string(mode_name(*mode)) + " run of the comparison");
  }
  options.max_new_tokens = settings.max_new_tokens;
  options.sampling.temperature = settings.temperature;
  options.sampling.top_p = settings.top_p;
  options.sampling.top_k = settings.top_k;
  options.sampling.seed = settings.seed;
  return options;
}

}  // namespace qread::ui
