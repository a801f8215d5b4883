// Settings: model folder, device and dtype, preset and per-key overrides of its YAML config,
// generation parameters. OK checks everything with the engine's own validation and refuses
// invalid values, showing the engine's message.
#pragma once

#include "app_settings.hpp"

#include <QDialog>

class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QSpinBox;

namespace qread::ui {

class SettingsDialog : public QDialog {
  Q_OBJECT
 public:
  explicit SettingsDialog(const AppSettings& settings, QWidget* parent = nullptr);

  // The settings as the fields say (not necessarily valid).
  AppSettings settings() const;
  // Checks the fields; on failure shows and returns the message, else returns "".
  QString validate();
  QString errorText() const;

  QLineEdit* modelEdit() const { return model_; }
  QPlainTextEdit* overridesEdit() const { return overrides_; }
  QComboBox* presetBox() const { return preset_; }

 public Q_SLOTS:
  void accept() override;

 private:
  void showEffectiveConfig();

  AppSettings base_;
  QLineEdit* model_ = nullptr;
  QComboBox* device_ = nullptr;
  QComboBox* dtype_ = nullptr;
  QComboBox* preset_ = nullptr;
  QPlainTextEdit* overrides_ = nullptr;
  QPlainTextEdit* effective_ = nullptr;
  QSpinBox* max_new_tokens_ = nullptr;
  QDoubleSpinBox* temperature_ = nullptr;
  QDoubleSpinBox* top_p_ = nullptr;
  QSpinBox* top_k_ = nullptr;
  QSpinBox* seed_ = nullptr;
  QLabel* error_ = nullptr;
};

}  // namespace qread::ui
