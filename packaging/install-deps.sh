#!/usr/bin/env bash
# Installs the Debian 12 packages that qread's build and tests need, and nothing else.
# Idempotent: installs only what is missing, runs `apt-get update` only when a package
# is missing and the package lists are absent or do not know it. Works as root or via sudo.
set -euo pipefail

packages=(
  # toolchain
  g++ cmake ninja-build ccache pkgconf make
  # engine
  libtorch-dev libopenblas0-openmp libsentencepiece-dev libpcre2-dev libyaml-cpp-dev nlohmann-json3-dev
  libcli11-dev libfmt-dev
  # NFC normalizer of Qwen2's tokenizer.json (optional in CMake; without it text is not normalized)
  libicu-dev
  # documents (zlib: page texts are kept compressed while a PDF is read)
  libpoppler-cpp-dev zlib1g-dev
  # desktop app and its tests
  qt6-base-dev qt6-charts-dev libqt6opengl6-dev libpoppler-qt6-dev libgl-dev xvfb xauth
  # the built-in default model comes as a PyPI wheel (packaging/fetch-default-model.sh)
  python3-pip
  # document tests: the R reference manual, a large real PDF (tests/document/test_refman.cpp)
  r-doc-pdf
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ $status == "install ok installed" ]] || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

if [[ $(id -u) -eq 0 ]]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo)
else
  echo "install-deps: missing packages (${missing[*]}) and neither root nor sudo is available" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# Update the lists only when apt does not know one of the missing packages.
needs_update=0
for p in "${missing[@]}"; do
  if ! apt-cache show "$p" >/dev/null 2>&1; then needs_update=1; break; fi
done
if ((needs_update)); then
  echo "install-deps: apt-get update"
  "${as_root[@]}" apt-get update -q
fi

echo "install-deps: installing ${missing[*]}"
"${as_root[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
