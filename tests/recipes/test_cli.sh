#!/usr/bin/env bash
# The grpo command on bad input (one line naming the key or file, exit 2) and on Ctrl-C (the last checkpoint
# stays intact, exit 130, and run.resume=true continues from it). Usage: test_cli.sh GRPO RECIPE_DIR
set -u
grpo=$1
recipe=$2/countdown-tiny.toml
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# expect_error NEEDLE ARGS...: exit status 2, exactly one line on stderr, containing NEEDLE.
expect_error() {
  local needle=$1 out rc
  shift
  out=$("$grpo" "$@" 2>&1 >/dev/null)
  rc=$?
  [ "$rc" -eq 2 ] || fail "exit status $rc (want 2) for: $*; output: $out"
  [ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] || fail "more than one line for: $*: $out"
  printf '%s' "$out" | grep -qF -- "$needle" || fail "message lacks '$needle': $out"
  echo "ok: $out"
}

expect_error "'rl.lrr'" sft "$recipe" rl.lrr=1e-4
expect_error "'rl.group_size'" sft "$recipe" rl.group_size=2.5
expect_error "'run.resume'" sft "$recipe" run.resume=yes
expect_error "$work/missing.toml" sft "$work/missing.toml"
printf '[rl]\nlearning_rate = 1e-4\n' >"$work/unknown.toml"
expect_error "'rl.learning_rate'" sft "$work/unknown.toml"
printf '[sft]\nsteps = "many"\n' >"$work/type.toml"
expect_error "'sft.steps'" sft "$work/type.toml"
printf '[sft\nsteps = 3\n' >"$work/syntax.toml"
expect_error "$work/syntax.toml" sft "$work/syntax.toml"
expect_error "$work/nowhere" train "$recipe" model.path="$work/nowhere" run.out_dir="$work/run0"
expect_error "$work/run0/sft" train "$recipe" run.out_dir="$work/run0"
expect_error "rl.group_size" train "$recipe" rl.group_size=1
expect_error "unknown command" fly "$recipe"

# grpo tokenize on the shared Qwen2 vocabulary (ids as in shared/data/tokenizers/ggml-vocab-qwen2.gguf.out).
toks=$2/../../shared/data/tokenizers
out=$("$grpo" tokenize --tokenizer "$toks/qwen2_vocab" --text "Hello world") || fail "tokenize failed"
[ "$out" = "9707 1879" ] || fail "tokenize: got '$out'"
out=$("$grpo" tokenize --tokenizer "$toks/qwen2_vocab" --decode --text "9707, 1879 151645") || fail "decode failed"
[ "$out" = "Hello world<|im_end|>" ] || fail "tokenize --decode: got '$out'"
"$grpo" tokenize --tokenizer "$toks/qwen2_vocab" --text " world" --pieces 2>/dev/null | grep -qP "^1879\tĠworld$" \
  || fail "tokenize --pieces lacks 1879 Ġworld"
out=$("$grpo" tokenize --tokenizer "$toks/llama2_spm/tokenizer.model" --text "Hello" --bos) || fail "spm failed"
[ "$out" = "1 15043" ] || fail "tokenize --bos with sentencepiece: got '$out'"
printf '{"text": "Hello"}\n{"hex": "ff"}\n' >"$work/in.jsonl"
out=$("$grpo" tokenize --tokenizer "$toks/qwen2_vocab" --file "$work/in.jsonl" --jsonl | tr '\n' ';') || fail "jsonl failed"
[ "$out" = "9707;5691;" ] || fail "tokenize --jsonl: got '$out'"
expect_error "$work/nothing" tokenize --tokenizer "$work/nothing" --text x
expect_error "exactly one of --text and --file" tokenize --tokenizer "$toks/qwen2_vocab" --text x --file y
expect_error "'abc' is not a token id" tokenize --tokenizer "$toks/qwen2_vocab" --decode --text "1 abc"
expect_error "outside the vocabulary" tokenize --tokenizer "$toks/qwen2_vocab" --decode --text "999999"
expect_error "qwen9" tokenize --tokenizer "$toks/qwen2_vocab" --text x --chat qwen9
printf '{"text": 3}\n' >"$work/bad.jsonl"
expect_error "$work/bad.jsonl:1" tokenize --tokenizer "$toks/qwen2_vocab" --file "$work/bad.jsonl" --jsonl
printf '{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b"]}}' >"$work/tokenizer.json"
expect_error "$work/tokenizer.json" tokenize --tokenizer "$work/tokenizer.json" --text x

# grpo reward: scores each line, keeps the input fields, reports malformed lines and goes on.
cat >"$work/math.jsonl" <<'JSONL'
{"completion": "so \\boxed{\\frac{1}{2}}", "answer": "0.5", "id": 7}
not json
{"completion": "the answer is 3.", "answer": "4"}
{"answer": "4"}
JSONL
out=$("$grpo" reward --task math --input "$work/math.jsonl" 2>"$work/reward.err") || fail "reward failed"
[ "$(printf '%s\n' "$out" | wc -l)" -eq 4 ] || fail "reward: want 4 output lines, got: $out"
printf '%s\n' "$out" | sed -n 1p | grep -q '"id":7.*"reward":1.0.*"verdict":"ok"' || fail "reward line 1: $out"
printf '%s\n' "$out" | sed -n 2p | grep -q '"verdict":"invalid_input".*math.jsonl:2' || fail "reward line 2: $out"
printf '%s\n' "$out" | sed -n 3p | grep -q '"verdict":"wrong"' || fail "reward line 3: $out"
printf '%s\n' "$out" | sed -n 4p | grep -q 'no string \\"completion\\"' || fail "reward line 4: $out"
grep -q "invalid_input=2 ok=1 wrong=1" "$work/reward.err" || fail "reward summary: $(cat "$work/reward.err")"
printf '{"completion": "<answer>(15+7)*3</answer>", "numbers": [3, 15, 7], "target": 66}\n' >"$work/cd.jsonl"
"$grpo" reward --task countdown --input "$work/cd.jsonl" --output "$work/cd.out" 2>/dev/null || fail "countdown reward"
grep -q '"verdict":"ok"' "$work/cd.out" || fail "countdown reward: $(cat "$work/cd.out")"
cat >"$work/code.jsonl" <<'JSONL'
{"completion": "```python\nprint(sum(map(int, input().split())))\n```", "cases": [{"input": "2 3\n", "output": "5\n"}]}
{"completion": "def add(a, b):\n    import sys; sys.exit(0)", "tests": "assert add(2, 3) == 5", "entry_point": "add"}
JSONL
out=$("$grpo" reward --task code --input "$work/code.jsonl" 2>/dev/null) || fail "code reward failed"
printf '%s\n' "$out" | sed -n 1p | grep -q '"verdict":"ok"' || fail "code reward line 1: $out"
printf '%s\n' "$out" | sed -n 2p | grep -q '"verdict":"wrong"' || fail "code reward line 2 (sys.exit(0) must fail): $out"
expect_error "known tasks" reward --task poetry --input "$work/cd.jsonl"
expect_error "$work/none.jsonl" reward --task math --input "$work/none.jsonl"

# Checkpoint tools on the committed transformers fixtures.
models=$2/../tests/fixtures/models
out=$("$grpo" info --model "$models/deepseek_v3") || fail "info failed"
printf '%s\n' "$out" | grep -q "^architecture: deepseek_v3$" || fail "info printed: $out"
printf '%s\n' "$out" | grep -q "^parameters: 181,328 total, 107,600 active per token$" || fail "info printed: $out"
printf '%s\n' "$out" | grep -q "^tokenizer files: none found$" || fail "info printed: $out"
"$grpo" convert --model "$models/mixtral" --out "$work/mixtral_f32" --dtype float32 --shard-mb 0.1 >/dev/null ||
  fail "convert failed"
"$grpo" info --model "$work/mixtral_f32" | grep -q "^dtype: F32 (41 tensors)$" || fail "converted dtype"
[ -f "$work/mixtral_f32/model.safetensors.index.json" ] || fail "convert --shard-mb wrote no index"
[ -f "$work/mixtral_f32/generation_config.json" ] || fail "convert dropped generation_config.json"
expect_error "already exists" convert --model "$models/mixtral" --out "$work/mixtral_f32"
expect_error "$work/none" info --model "$work/none"
expect_error "--bogus" info --model "$models/qwen2" --bogus
mkdir -p "$work/badcfg" && printf '{"model_type": "gpt_neox"}' >"$work/badcfg/config.json"
expect_error "gpt_neox" info --model "$work/badcfg"
cp "$models/qwen2/config.json" "$work/badcfg/config.json"
head -c 1000 "$models/qwen2/model.safetensors" >"$work/badcfg/model.safetensors"
expect_error "$work/badcfg/model.safetensors" info --model "$work/badcfg"

# A small, fast configuration of the default recipe.
small=(run.out_dir="$work/run" model.preset=test-moe data.eval_size=50 sft.batch_size=16 sft.eval_every=0
       rl.prompts_per_step=4 rl.group_size=4 eval.every=0 run.save_every=2 run.keep_checkpoints=2)
"$grpo" sft "$recipe" "${small[@]}" sft.steps=3 2>/dev/null || fail "sft failed"
[ -f "$work/run/sft/checkpoints/step_000003/model.safetensors" ] || fail "no SFT checkpoint"

# Ctrl-C in the middle of GRPO.
"$grpo" train "$recipe" "${small[@]}" rl.steps=100000 2>"$work/train.log" &
pid=$!
# latest_step: the highest finished checkpoint step (0 if none). Steps take milliseconds here and older
# checkpoints are pruned (keep_checkpoints=2), so wait for "at least step 4", not for one directory.
latest_step() {
  local last
  last=$(ls "$work/run/grpo/checkpoints" 2>/dev/null | grep '^step_[0-9]*$' | sort | tail -1)
  [ -n "$last" ] && echo $((10#${last#step_})) || echo 0
}
for _ in $(seq 1 600); do
  [ "$(latest_step)" -ge 4 ] && break
  kill -0 $pid 2>/dev/null || fail "training ended early: $(tail -3 "$work/train.log")"
  sleep 0.1
done
[ "$(latest_step)" -ge 4 ] || { kill -9 $pid; fail "no GRPO checkpoint at step >= 4 after 60 s: $(tail -3 "$work/train.log")"; }
kill -INT $pid
wait $pid
rc=$?
[ "$rc" -eq 130 ] || fail "interrupted run exited $rc (want 130): $(tail -3 "$work/train.log")"
grep -q "continue with run.resume=true" "$work/train.log" || fail "no resume hint in the log"
ls -a "$work/run/grpo/checkpoints" | grep -q '^\.tmp' && fail "a temporary checkpoint directory was left behind"
last=$(ls "$work/run/grpo/checkpoints" | sort | tail -1)
step=$((10#${last#step_}))
[ "$step" -ge 4 ] || fail "last checkpoint is $last"
for f in config.json model.safetensors tokenizer.json optimizer.pt trainer_state.json; do
  [ -s "$work/run/grpo/checkpoints/$last/$f" ] || fail "$last lacks $f"
done
"$grpo" eval "$recipe" "${small[@]}" eval.model="$work/run/grpo/checkpoints/$last" >"$work/eval.txt" 2>/dev/null ||
  fail "the interrupted run's checkpoint does not load"
grep -q "^accuracy: .* (n=50)$" "$work/eval.txt" || fail "eval printed: $(cat "$work/eval.txt")"
echo "ok: interrupted at $last"

# Resume: continues from that step to the new end.
target=$((step + 2))
"$grpo" train "$recipe" "${small[@]}" rl.steps=$target run.resume=true 2>"$work/resume.log" || fail "resume failed"
grep -q "resuming .*$last" "$work/resume.log" || fail "did not resume from $last: $(head -3 "$work/resume.log")"
final=$(printf 'step_%06d' "$target")
[ -f "$work/run/grpo/checkpoints/$final/trainer_state.json" ] || fail "no $final after resuming"
steps=$(grep -c '"step"' "$work/run/grpo/metrics.jsonl")
# metrics.jsonl: step 0 (evaluation) plus one line per step 1..target, none twice.
[ "$steps" -eq $((target + 1)) ] || fail "metrics.jsonl has $steps lines, want $((target + 1))"
echo "ok: resumed to $final"
