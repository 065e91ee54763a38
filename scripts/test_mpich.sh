#!/usr/bin/env bash
# test_mpich.sh — lorac's MPI tests (tests/dist) against MPICH instead of the
# default Open MPI. Debian installs both side by side (mpicc.mpich,
# mpirun.mpich); the alternatives keep the bare mpicc/mpirun on Open MPI, so
# the default build (build/) is untouched. This builds lorac alone against
# MPICH in build-mpich/ and runs the dist tests there with mpirun.mpich.
# Arguments: the tests to run (default: equal kill hang — the ones that
# depend on the MPI library and its launcher; sweep and mismatch too with
# `all`). .ci/run calls it after scripts/test.sh. Needs the oracle venv
# (.venv, made by scripts/test_env.sh) and `apt-get install mpich
# libmpich-dev` (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONNOUSERSITE=1
unset PYTHONPATH PYTHONHOME
mpicc=$(command -v mpicc.mpich || true)
if [ -z "$mpicc" ] || ! command -v mpirun.mpich >/dev/null; then
  echo "test_mpich.sh: mpicc.mpich / mpirun.mpich not found: apt-get install mpich libmpich-dev" >&2
  exit 1
fi
[ -x .venv/bin/python3 ] || bash scripts/test_env.sh
tests=${*:-equal kill hang}
[ "$tests" = all ] && tests="equal sweep kill hang mismatch"
cmake -S . -B build-mpich -DCMAKE_BUILD_TYPE=Release -DMPI_C_COMPILER="$mpicc" >/dev/null
cmake --build build-mpich -j"$(nproc)" --target lorac
# the build must really use MPICH and its launcher, not the Open MPI beside it
if ! grep -q '^LC_MPIEXEC:FILEPATH=.*mpirun\.mpich$' build-mpich/CMakeCache.txt ||
   ! ldd build-mpich/lorac | grep -q 'libmpich\.so' || ldd build-mpich/lorac | grep -q 'libmpi\.so'; then
  echo "test_mpich.sh: build-mpich is not an MPICH build:" >&2
  grep '^LC_MPIEXEC' build-mpich/CMakeCache.txt >&2
  ldd build-mpich/lorac | grep -i mpi >&2
  exit 1
fi
ctest --test-dir build-mpich --output-on-failure --no-tests=error -R "^dist_($(echo "$tests" | tr ' ' '|'))\$"
