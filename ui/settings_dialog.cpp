#include "settings_dialog.hpp"

#include "qread/error.hpp"

#include <QComboBox>
#include <QDialogButtonBox>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QRegularExpression>
#include <QSpinBox>
#include <QVBoxLayout>

#include <climits>

namespace qread::ui {

SettingsDialog::SettingsDialog(const AppSettings& settings, QWidget* parent) : QDialog(parent), base_(settings) {
  setWindowTitle(tr("qread settings"));
  resize(760, 640);

  // Model.
  model_ = new QLineEdit(settings.model_path, this);
  model_->setPlaceholderText(tr("Hugging Face model folder or .gguf file"));
  auto* browse = new QPushButton(tr("Folder…"), this);
  auto* browse_file = new QPushButton(tr("GGUF file…"), this);
  connect(browse, &QPushButton::clicked, this, [this] {
    const QString dir = QFileDialog::getExistingDirectory(this, tr("Model folder"), model_->text());
    if (!dir.isEmpty()) model_->setText(dir);
  });
  connect(browse_file, &QPushButton::clicked, this, [this] {
    const QString file = QFileDialog::getOpenFileName(this, tr("GGUF model"), model_->text(), tr("GGUF models (*.gguf)"));
    if (!file.isEmpty()) model_->setText(file);
  });
  auto* model_row = new QHBoxLayout;
  model_row->addWidget(model_, 1);
  model_row->addWidget(browse);
  model_row->addWidget(browse_file);
  device_ = new QComboBox(this);
  device_->setEditable(true);
  device_->addItems({QStringLiteral("cpu"), QStringLiteral("cuda"), QStringLiteral("cuda:0"), QStringLiteral("cuda:1")});
  device_->setCurrentText(settings.device);
  dtype_ = new QComboBox(this);
  dtype_->addItems({QStringLiteral("auto"), QStringLiteral("float32"), QStringLiteral("bfloat16"), QStringLiteral("float16")});
  dtype_->setCurrentText(settings.dtype);
  auto* model_box = new QGroupBox(tr("Model"), this);
  auto* model_form = new QFormLayout(model_box);
  model_form->addRow(tr("Model:"), model_row);
  model_form->addRow(tr("Device:"), device_);
  model_form->addRow(tr("Data type:"), dtype_);

  // Run config.
  preset_ = new QComboBox(this);
  for (const Preset& p : available_presets()) preset_->addItem(p.label, p.id);
  const int at = preset_->findData(settings.preset);
  if (at >= 0) preset_->setCurrentIndex(at);
  else if (!settings.preset.isEmpty()) {
    preset_->addItem(QFileInfo(settings.preset).completeBaseName(), settings.preset);
    preset_->setCurrentIndex(preset_->count() - 1);
  }
  overrides_ = new QPlainTextEdit(settings.overrides.join(QLatin1Char('\n')), this);
  overrides_->setObjectName(QStringLiteral("overrides"));
  overrides_->setPlaceholderText(tr("One key=value per line, as qread --set: topk=8, n_local=2048, chunk_size=4096"));
  overrides_->setMaximumHeight(110);
  effective_ = new QPlainTextEdit(this);
  effective_->setReadOnly(true);
  effective_->setFont(QFont(QStringLiteral("monospace"), 9));
  auto* run_box = new QGroupBox(tr("Context memory"), this);
  auto* run_form = new QFormLayout(run_box);
  run_form->addRow(tr("Preset:"), preset_);
  run_form->addRow(tr("Overrides:"), overrides_);
  run_form->addRow(tr("Effective config:"), effective_);

  // Generation.
  max_new_tokens_ = new QSpinBox(this);
  max_new_tokens_->setRange(1, 32768);
  max_new_tokens_->setValue(settings.max_new_tokens);
  temperature_ = new QDoubleSpinBox(this);
  temperature_->setRange(0, 5);
  temperature_->setSingleStep(0.1);
  temperature_->setSpecialValueText(tr("0 (greedy)"));
  temperature_->setValue(settings.temperature);
  top_p_ = new QDoubleSpinBox(this);
  top_p_->setRange(0.01, 1);
  top_p_->setSingleStep(0.05);
  top_p_->setValue(settings.top_p);
  top_k_ = new QSpinBox(this);
  top_k_->setRange(0, 100000);
  top_k_->setSpecialValueText(tr("no limit"));
  top_k_->setValue(settings.top_k);
  seed_ = new QSpinBox(this);
  seed_->setRange(0, INT_MAX);
  seed_->setValue(int(std::min<qulonglong>(settings.seed, INT_MAX)));
  auto* gen_box = new QGroupBox(tr("Generation"), this);
  auto* gen_form = new QFormLayout(gen_box);
  gen_form->addRow(tr("Max new tokens:"), max_new_tokens_);
  gen_form->addRow(tr("Temperature:"), temperature_);
  gen_form->addRow(tr("Top-p:"), top_p_);
  gen_form->addRow(tr("Top-k:"), top_k_);
  gen_form->addRow(tr("Seed:"), seed_);

  error_ = new QLabel(this);
  error_->setObjectName(QStringLiteral("settingsError"));
  error_->setWordWrap(true);
  error_->setStyleSheet(QStringLiteral("color:#b00020"));
  error_->hide();
  auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this);
  connect(buttons, &QDialogButtonBox::accepted, this, &SettingsDialog::accept);
  connect(buttons, &QDialogButtonBox::rejected, this, &SettingsDialog::reject);

  auto* columns = new QHBoxLayout;
  auto* left = new QVBoxLayout;
  left->addWidget(model_box);
  left->addWidget(gen_box);
  left->addStretch(1);
  columns->addLayout(left, 2);
  columns->addWidget(run_box, 3);
  auto* layout = new QVBoxLayout(this);
  layout->addLayout(columns, 1);
  layout->addWidget(error_);
  layout->addWidget(buttons);

  connect(preset_, &QComboBox::currentIndexChanged, this, &SettingsDialog::showEffectiveConfig);
  connect(overrides_, &QPlainTextEdit::textChanged, this, &SettingsDialog::showEffectiveConfig);
  showEffectiveConfig();
}

AppSettings SettingsDialog::settings() const {
  AppSettings s = base_;
  s.model_path = model_->text().trimmed();
  s.device = device_->currentText().trimmed();
  s.dtype = dtype_->currentText();
  s.preset = preset_->currentData().toString();
  s.overrides.clear();
  for (const QString& line : overrides_->toPlainText().split(QLatin1Char('\n'))) {
    const QString trimmed = line.trimmed();
    if (!trimmed.isEmpty() && !trimmed.startsWith(QLatin1Char('#'))) s.overrides << trimmed;
  }
  s.max_new_tokens = max_new_tokens_->value();
  s.temperature = temperature_->value();
  s.top_p = top_p_->value();
  s.top_k = top_k_->value();
  s.seed = qulonglong(seed_->value());
  return s;
}

void SettingsDialog::showEffectiveConfig() {
  try {
    effective_->setPlainText(QString::fromStdString(to_yaml(run_config(settings()))));
    error_->hide();
  } catch (const std::exception& e) {
    effective_->setPlainText(tr("# not valid:\n# %1").arg(QString::fromUtf8(e.what())));
  }
}

QString SettingsDialog::validate() {
  const AppSettings s = settings();
  QString message;
  static const QRegularExpression device_pattern(QStringLiteral("^(cpu|cuda(:\\d+)?)$"));
  if (!device_pattern.match(s.device).hasMatch())
    message = tr("device: '%1' is not a device (cpu, cuda or cuda:N)").arg(s.device);
  else if (!s.model_path.isEmpty() && !QFileInfo::exists(s.model_path))
    message = tr("model: %1 does not exist").arg(s.model_path);
  else {
    for (const QString& o : s.overrides)
      if (!o.contains(QLatin1Char('='))) {
        message = tr("override '%1': expected key=value").arg(o);
        break;
      }
  }
  if (message.isEmpty()) {
    try {
      (void)ask_options(s);
    } catch (const std::exception& e) {
      message = QString::fromUtf8(e.what());
    }
  }
  error_->setText(message);
  error_->setVisible(!message.isEmpty());
  return message;
}

QString SettingsDialog::errorText() const { return error_->isHidden() ? QString() : error_->text(); }

void SettingsDialog::accept() {
  if (validate().isEmpty()) QDialog::accept();
}

}  // namespace qread::ui
