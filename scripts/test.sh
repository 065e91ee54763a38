#!/usr/bin/env bash
# test.sh — run the whole test suite (ctest) with the venv's python3 on PATH
# for the oracle scripts. Extra arguments go to ctest (e.g. -R kernels).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -d .venv/bin ]; then export PATH="$PWD/.venv/bin:$PATH"; fi
cmake --build build -j"$(nproc)"
ctest --test-dir build --output-on-failure "$@"
