#!/usr/bin/env bash
# grpo info checks a checkpoint's safetensors headers against the tensors its config.json implies (no weight is
# read): every committed fixture passes; a missing tensor or a wrong shape exits 2 with one line naming the first.
# Usage: test_info_cli.sh GRPO FIXTURE_MODELS_DIR
set -u
grpo=$1
models=$2
source "$(dirname "$0")/cli_lib.sh"

# Every fixture is complete (DeepSeek-V3's extra multi-token-prediction tensors are not a problem).
for dir in "$models"/*/; do
  name=$(basename "$dir")
  "$grpo" info --model "$dir" >/dev/null || fail "info on the complete fixture $name"
done
echo "ok: info accepts all $(ls -d "$models"/*/ | wc -l) fixtures"

# A sharded copy (tensors left out of model.safetensors.index.json are invisible, as in transformers).
"$grpo" convert --model "$models/llama" --out "$work/full" --dtype float32 --shard-mb 0.1 >/dev/null ||
  fail "convert failed"
index=$work/full/model.safetensors.index.json
grep -q '"model.layers.0.self_attn.k_proj.weight":' "$index" || fail "unexpected index layout: $(head -c 400 "$index")"

cp -r "$work/full" "$work/one"
grep -v '"model.layers.0.self_attn.k_proj.weight":' "$index" >"$work/one/model.safetensors.index.json"
expect_error "tensor 'model.layers.0.self_attn.k_proj.weight' is missing (1 of the 21 tensors llama needs" \
  info --model "$work/one"

# A whole layer gone: the first missing one is named, with the count.
cp -r "$work/full" "$work/layer"
grep -v '"model.layers.1\.' "$index" >"$work/layer/model.safetensors.index.json"
expect_error "tensor 'model.layers.1.input_layernorm.weight' is missing (9 of the 21" info --model "$work/layer"

# config.json that does not fit the weights: a shape named.
cp -r "$work/full" "$work/shape"
sed 's/"intermediate_size": 96/"intermediate_size": 128/' "$models/llama/config.json" >"$work/shape/config.json"
grep -q '"intermediate_size": 128' "$work/shape/config.json" || fail "sed did not change intermediate_size"
expect_error "tensor 'model.layers.0.mlp.gate_proj.weight' has shape [96, 64] but config.json makes it [128, 64]" \
  info --model "$work/shape"
echo "all info checks passed"
