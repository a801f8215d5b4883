#include "qread/runtime.hpp"
#include "qread/version.hpp"

#include <ATen/Parallel.h>
#include <QtTest>
#include <sched.h>

class TestRuntime : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void threadPoolUsesAvailableCores() {
    cpu_set_t set;
    CPU_ZERO(&set);
    QCOMPARE(sched_getaffinity(0, sizeof(set), &set), 0);
    const int cores = CPU_COUNT(&set);
    QCOMPARE(qread::available_cpu_cores(), cores);
    qread::init_runtime();
    QCOMPARE(at::get_num_threads(), cores);
    qread::init_runtime();  // idempotent
    QCOMPARE(at::get_num_threads(), cores);
  }

  void infoReportsVersions() {
    const auto info = qread::runtime_info();
    QCOMPARE(QString::fromStdString(info.qread_version), QStringLiteral(QREAD_EXPECTED_VERSION));
    QVERIFY2(QString::fromStdString(info.torch_version).contains(QRegularExpression("^[12]\\.\\d+")),
             info.torch_version.c_str());
    QCOMPARE(info.cpu_cores, qread::available_cpu_cores());
    if (!info.cuda_available) QVERIFY(info.gpus.empty());
    for (const auto& gpu : info.gpus) {
      QVERIFY(!gpu.name.empty());
      QVERIFY(gpu.total_memory_bytes > 0);
    }
  }
};

QTEST_APPLESS_MAIN(TestRuntime)
#include "test_runtime.moc"
