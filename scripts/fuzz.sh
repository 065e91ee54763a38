#!/bin/sh
# scripts/fuzz.sh — the bounded fuzz stage of CI (issue 16): lorac's parsers
# of untrusted files (safetensors, GGUF, tokenizer.json, HDF5 adapters,
# jsonl / csv, YAML) under AddressSanitizer + UndefinedBehaviorSanitizer.
#
#   scripts/fuzz.sh [SECONDS]      (default 180: the whole stage, all targets)
#
# Builds its own tree (build-asan/, -DLC_SANITIZE=ON) with gcc's sanitizers,
# then runs tests/fuzz/fuzz_driver: deterministic mutations of the committed
# seeds in tests/fuzz/corpus/, the time split evenly over the 7 targets.
# Exit status non-zero on any sanitizer report (abort_on_error), crash or
# leak (libhdf5's own leaks on corrupt files are suppressed: tests/fuzz/lsan.supp);
# a report names the input it was parsing (build-asan/fuzz-work/mutant.*, kept
# for reproduction).
set -eu
SECS=${1:-180}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B="$ROOT/build-asan"
mkdir -p "$B"
cmake -S "$ROOT" -B "$B" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLC_SANITIZE=ON > "$B/configure.log" 2>&1 ||
  { cat "$B/configure.log"; exit 1; }
cmake --build "$B" -j2 --target fuzz_driver > "$B/build.log" 2>&1 || { tail -50 "$B/build.log"; exit 1; }
W="$B/fuzz-work"
rm -rf "$W" && mkdir -p "$W"
echo "fuzz: ASan + UBSan, $SECS s over 7 targets, corpus tests/fuzz/corpus"
ASAN_OPTIONS=abort_on_error=1:detect_leaks=1:allocator_may_return_null=1:strict_string_checks=1 \
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
LSAN_OPTIONS=suppressions="$ROOT/tests/fuzz/lsan.supp":print_suppressions=0 \
OMP_NUM_THREADS=1 \
  "$B/tests/fuzz/fuzz_driver" run "$ROOT/tests/fuzz/corpus" "$W" "$SECS"
echo "fuzz: no sanitizer report"
