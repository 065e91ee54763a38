#!/bin/sh
# test_cli.sh — `lorac merge / export / import` end to end on stories260K:
# exit codes, outputs, the printed check, and that failures leave nothing.
# usage: test_cli.sh LORAC TEST_DEPLOY MODEL_DIR WORK_DIR
set -eu
LORAC=$1 TD=$2 MODEL=$3 W=$4
fail() { echo "FAIL: $*" >&2; exit 1; }
rm -rf "$W" && mkdir -p "$W"
"$TD" make-adapter "$MODEL" "$W/a.h5" 5 4 8 all-linear 0 > /dev/null

"$LORAC" merge --model "$MODEL" --adapter "$W/a.h5:0.5" --out "$W/merged" | tee "$W/merge.log"
grep -q "max |logit difference|" "$W/merge.log" || fail "merge printed no check"
for f in config.json model.safetensors tokenizer.json tokenizer_config.json special_tokens_map.json; do
  [ -f "$W/merged/$f" ] || fail "merged/$f missing"
done
"$LORAC" export --adapter "$W/a.h5" --model "$MODEL" --format peft --out "$W/peft"
"$LORAC" export --adapter "$W/a.h5" --model "$MODEL" --format gguf --out "$W/a.gguf"
[ -f "$W/peft/adapter_config.json" ] && [ -f "$W/peft/adapter_model.safetensors" ] && [ -f "$W/a.gguf" ] \
  || fail "export outputs missing"
"$LORAC" import --peft "$W/peft" --model "$MODEL" --out "$W/b.h5"
"$TD" logits "$MODEL" "$W/a.h5" "$W/la.bin"
"$TD" logits "$MODEL" "$W/b.h5" "$W/lb.bin"
cmp "$W/la.bin" "$W/lb.bin" || fail "imported adapter gives other logits than the original"
echo "export -> import: logits identical"

# failures: non-zero exit, a message, no new files
before=$(ls "$W" | wc -l)
expect_fail() { # rc pattern cmd...
  rc=$1 pat=$2; shift 2
  set +e; "$@" > "$W/out.txt" 2> "$W/err.txt"; got=$?; set -e
  msg=$(cat "$W/err.txt"); rm -f "$W/out.txt" "$W/err.txt"
  echo "exit $got: $msg" | tail -n 1
  [ "$got" = "$rc" ] || fail "expected exit $rc, got $got: $*"
  echo "$msg" | grep -q -- "$pat" || fail "message lacks '$pat': $msg"
}
expect_fail 1 "already exists" "$LORAC" merge --model "$MODEL" --adapter "$W/a.h5" --out "$W/merged"
expect_fail 2 "not a number" "$LORAC" merge --model "$MODEL" --adapter "$W/a.h5:x" --out "$W/m2"
expect_fail 2 "required" "$LORAC" merge --model "$MODEL" --out "$W/m2"
expect_fail 2 "--dtype" "$LORAC" merge --model "$MODEL" --adapter "$W/a.h5" --out "$W/m2" --dtype q4_0
expect_fail 1 "GGUF base" "$LORAC" merge --model "$MODEL" --adapter "$W/a.h5" --out "$W/m2.gguf"
expect_fail 1 "Not a directory" "$LORAC" merge --model "$MODEL" --adapter "$W/a.h5" --out "$W/a.h5/m2"
expect_fail 1 "already exists" "$LORAC" export --adapter "$W/a.h5" --model "$MODEL" --format peft --out "$W/peft"
expect_fail 2 "peft or gguf" "$LORAC" export --adapter "$W/a.h5" --model "$MODEL" --format onnx --out "$W/x"
expect_fail 1 "adapter_config.json" "$LORAC" import --peft "$W/merged" --model "$MODEL" --out "$W/c.h5"
after=$(ls "$W" | wc -l)
[ "$before" = "$after" ] || fail "failed commands left files: $(ls "$W")"
echo "deploy_cli: OK"
