#!/usr/bin/env bash
# test_env.sh — make the Python environment the test oracles run in, and point
# .venv at it. Called by scripts/test.sh; training never needs it.
#
# The venv is built from scripts/requirements-test.txt alone, by `python3 -m
# venv` (no system or user site packages), and cached between runs outside the
# checkout, keyed by a hash of (requirements, interpreter version, the
# llama-cpp-python build flags): $LORAC_TEST_VENV, default
# ~/.cache/lorac/test-venv-<hash>. Each run checks that the venv still holds
# exactly what was installed (pip freeze equals the freeze saved at install
# time), so a package installed into it by hand makes it be rebuilt, never
# silently satisfies a missing requirement. LORAC_FRESH_VENV=1 builds a new
# venv in a temporary directory (what .ci/run does to prove the requirements
# are complete).
#
# Every venv is installed offline (--no-index) from a wheelhouse,
# ~/.cache/lorac/wheels-<hash>, which `pip wheel -r requirements-test.txt`
# fills: PyPI's downloads (~3 GB with torch) and the llama-cpp-python wheel
# (built from source once, ~10 min on 2 cores) are fetched/built only once per
# machine, and what the venv holds is exactly what the requirements resolve to.
set -euo pipefail
cd "$(dirname "$0")/.."

base_py=${LORAC_BASE_PYTHON:-python3}
# llama-cpp-python is built from source: portable x86-64 flags (AVX2/FMA/F16C, no
# -march=native: a native build died with SIGILL on an AMX Xeon), no network.
export CMAKE_ARGS="${LORAC_LLAMA_CMAKE_ARGS:--DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BLAS=OFF -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF}"
export PYTHONNOUSERSITE=1
unset PYTHONPATH PYTHONHOME

key=$( { cat scripts/requirements-test.txt; "$base_py" -c 'import sys; print(sys.version)'; echo "$CMAKE_ARGS"; } |
       sha256sum | cut -c1-12)
if [ "${LORAC_FRESH_VENV:-0}" = 1 ]; then
  venv=$(mktemp -d "${TMPDIR:-/tmp}/lorac-test-venv.XXXXXX")
else
  venv=${LORAC_TEST_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/lorac/test-venv-$key}
fi

venv_intact() {
  [ -x "$venv/bin/python3" ] && [ -f "$venv/.lorac-freeze" ] &&
    "$venv/bin/python3" -m pip freeze --all 2>/dev/null | cmp -s - "$venv/.lorac-freeze"
}

if ! venv_intact; then
  echo "test_env: building the oracle venv at $venv (requirements-test.txt; the first time takes minutes)"
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  "$base_py" -m venv "$venv"
  wheels=${LORAC_WHEELHOUSE:-${XDG_CACHE_HOME:-$HOME/.cache}/lorac/wheels-$key}
  if [ ! -f "$wheels/.complete" ]; then
    echo "test_env: filling the wheelhouse $wheels (downloads once; builds llama-cpp-python)"
    mkdir -p "$wheels"
    "$venv/bin/python3" -m pip wheel --quiet --find-links "$wheels" -w "$wheels" -r scripts/requirements-test.txt
    touch "$wheels/.complete"
  fi
  "$venv/bin/python3" -m pip install --quiet --no-index --find-links "$wheels" -r scripts/requirements-test.txt
  "$venv/bin/python3" -m pip freeze --all > "$venv/.lorac-freeze"
fi

# The interpreter sees its own site-packages and the standard library, nothing
# installed elsewhere (no user site, no system site-packages).
"$venv/bin/python3" -I - "$venv" <<'PY'
import os, site, sys
venv = os.path.realpath(sys.argv[1])
bad = [p for p in sys.path if "-packages" in p and not os.path.realpath(p).startswith(venv)]
if bad or site.ENABLE_USER_SITE:
    sys.exit(f"test_env: the oracle venv sees packages from outside it: {bad}")
PY

# .venv (the path CMake's LC_PYTHON points at) names this venv.
if [ -e .venv ] && [ ! -L .venv ]; then
  if [ "$(realpath .venv)" != "$(realpath "$venv")" ]; then
    echo "test_env: replacing the old in-tree .venv with a link to $venv"
    rm -rf .venv
  fi
fi
ln -sfn "$venv" .venv
echo "test_env: oracle python $("$venv/bin/python3" -c 'import sys; print(sys.version.split()[0])') at $venv"
