// Helpers shared by the Qt Test suites.
#pragma once

#include <QByteArray>
#include <QtGlobal>

#include <cstdint>
#include <cstdio>
#include <random>

namespace qread::test {

// A fresh seed per run, printed so that a failure can be replayed with QREAD_TEST_SEED=N.
inline std::uint64_t random_seed() {
  static const std::uint64_t seed = [] {
    const QByteArray fixed = qgetenv("QREAD_TEST_SEED");
    const std::uint64_t s = fixed.isEmpty() ? std::random_device{}() : fixed.toULongLong();
    std::fprintf(stderr, "random seed: %llu (replay with QREAD_TEST_SEED=%llu)\n",
                 static_cast<unsigned long long>(s), static_cast<unsigned long long>(s));
    return s;
  }();
  return seed;
}

}  // namespace qread::test
