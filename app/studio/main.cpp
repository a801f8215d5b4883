// qread-studio: the desktop application's entry point.
#include "main_window.hpp"
#include "qread/version.hpp"

#include <QApplication>

int main(int argc, char** argv) {
  QApplication app(argc, argv);
  QApplication::setApplicationName(QStringLiteral("qread"));
  QApplication::setOrganizationName(QStringLiteral("qread"));
  QApplication::setApplicationVersion(QString::fromLatin1(qread::kVersion));
  qread::ui::MainWindow window;
  window.show();
  return QApplication::exec();
}
