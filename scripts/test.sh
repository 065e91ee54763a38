#!/usr/bin/env bash
# test.sh — run the whole test suite (ctest). Makes (or reuses) the oracle venv
# first (scripts/test_env.sh: every Python oracle runs with .venv/bin/python3,
# CMake's LC_PYTHON), fetches the real Gemma 3 270M the Gemma tests use
# (scripts/fetch_gemma3.sh), builds, then runs ctest. Extra arguments go to
# ctest (e.g. -R kernels). With LORAC_NO_SKIP=1 (set by .ci/run) a skipped test fails
# the run: on CI every oracle must have what it needs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/test_env.sh
bash scripts/fetch_gemma3.sh   # the Gemma 3 270M tests' model (idempotent, SHA-256 checked)
export PYTHONNOUSERSITE=1
unset PYTHONPATH PYTHONHOME
if [ ! -f build/CMakeCache.txt ]; then
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build build -j"$(nproc)"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
ctest --test-dir build --output-on-failure "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
if [ "${LORAC_NO_SKIP:-0}" = 1 ] && grep -q '(Skipped)' "$log"; then
  echo "test.sh: tests were skipped; on CI every test must run:" >&2
  grep '(Skipped)' "$log" >&2
  rc=1
fi
exit "$rc"
