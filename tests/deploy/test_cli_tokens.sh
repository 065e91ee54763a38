#!/bin/sh
# test_cli_tokens.sh — an adapter with trainable tokens (trainable_token_indices)
# through the CLI on stories260K (tied head): `lorac info` names the rows,
# `lorac generate` runs with it, `lorac merge` passes its own logits check,
# PEFT export -> import gives identical logits, and the llama.cpp GGUF LoRA
# export is refused with the reason and leaves no file.
# usage: test_cli_tokens.sh LORAC TEST_DEPLOY MODEL_DIR WORK_DIR
set -eu
LORAC=$1 TD=$2 MODEL=$3 W=$4
fail() { echo "FAIL: $*" >&2; exit 1; }
rm -rf "$W" && mkdir -p "$W"
"$TD" make-adapter-tokens "$MODEL" "$W/t.h5" 9 > /dev/null

"$LORAC" info "$MODEL" --adapter "$W/t.h5" | tee "$W/info.log"
grep -q "trainable tokens 4 rows of the embedding (and of the tied head)" "$W/info.log" \
  || fail "info does not name the rows"
"$LORAC" generate --model "$MODEL" --adapter "$W/t.h5" --prompt "Once upon a time" --max-tokens 8 > "$W/gen.log" \
  || fail "generate with the adapter failed"
"$LORAC" merge --model "$MODEL" --adapter "$W/t.h5" --out "$W/merged" | tee "$W/merge.log"
grep -q "max |logit difference|" "$W/merge.log" || fail "merge printed no check"
"$LORAC" export --adapter "$W/t.h5" --model "$MODEL" --format peft --out "$W/peft"
grep -q '"trainable_token_indices"' "$W/peft/adapter_config.json" \
  || fail "adapter_config.json lacks trainable_token_indices"
"$LORAC" import --peft "$W/peft" --model "$MODEL" --out "$W/back.h5"
"$TD" logits "$MODEL" "$W/t.h5" "$W/lt.bin"
"$TD" logits "$MODEL" "$W/back.h5" "$W/lb.bin"
cmp "$W/lt.bin" "$W/lb.bin" || fail "imported adapter gives other logits than the original"
"$TD" logits "$MODEL" - "$W/l0.bin"
cmp -s "$W/lt.bin" "$W/l0.bin" && fail "the adapter does not change the logits"
echo "export -> import: logits identical (and not the base's)"
set +e
"$LORAC" export --adapter "$W/t.h5" --model "$MODEL" --format gguf --out "$W/t.gguf" 2> "$W/err.txt"
rc=$?
set -e
cat "$W/err.txt"
[ "$rc" = 1 ] || fail "GGUF export: exit $rc, expected 1"
grep -q "trainable tokens" "$W/err.txt" || fail "GGUF export refusal lacks the reason"
[ ! -e "$W/t.gguf" ] || fail "refused GGUF export left a file"
echo "deploy_cli_tokens: OK"
