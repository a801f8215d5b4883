#!/usr/bin/env bash
# Run here (the CPU machine), once: downloads the Debian packages the GPU machine lacks into
# .device-debs/ (ignored by git), so that `run` can carry them there. See shared/DEVICE.md.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
grep -qx '/.device-debs/' .git/info/exclude 2>/dev/null || echo '/.device-debs/' >> .git/info/exclude
mkdir -p .device-debs
cd .device-debs
# Engine libraries, plus QtCore/QtTest, moc and the mkspecs (qmake6) for the Qt Test suites.
apt-get download \
  libsentencepiece0 libsentencepiece-dev libyaml-cpp0.7 libyaml-cpp-dev libfmt9 libfmt-dev \
  libcli11-dev nlohmann-json3-dev libpcre2-dev libpcre2-8-0 \
  libqt6core6 libqt6test6 qt6-base-dev qt6-base-dev-tools libicu72 libdouble-conversion3 \
  libb2-1 libpcre2-16-0 libglib2.0-0 qmake6
du -sh .
# The reference oracles (shared/oracles), for the tests and replay checks there.
cd ..
rm -rf .device-oracles && cp -r ../shared/oracles .device-oracles
grep -qx '/.device-oracles/' .git/info/exclude || echo '/.device-oracles/' >> .git/info/exclude
du -sh .device-oracles
