#!/usr/bin/env bash
# The grpo command on bad input (one line naming the key or file, exit 2) and on Ctrl-C (the last checkpoint
# stays intact, exit 130, and run.resume=true continues from it). Usage: test_cli.sh GRPO RECIPE_DIR
set -u
grpo=$1
recipe=$2/countdown-tiny.toml
source "$(dirname "$0")/cli_lib.sh"

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

# grpo tokenize on the shared Qwen2 vocabulary (ids as in shared/data/tokenizers/ggml-vocab-qwen2.gguf.out); the public
# data is in $GRPO_SHARED_DATA or ../shared/data beside the checkout, which a user's clone does not have.
toks=${GRPO_SHARED_DATA:-$2/../../shared/data}/tokenizers
if [ ! -d "$toks" ]; then
  echo "SKIPPED: the grpo tokenize checks need $toks (public test data); set GRPO_SHARED_DATA"
else
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
fi

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

# --help on every command; `grpo help` says its defaults are the built-in ones.
for cmd in sft train eval data generate info convert init reward tokenize; do
  out=$("$grpo" $cmd --help) || fail "grpo $cmd --help exited $?"
  printf '%s' "$out" | grep -q "usage: grpo $cmd" || fail "grpo $cmd --help printed: $out"
done
"$grpo" generate -h | grep -q "usage: grpo generate" || fail "grpo generate -h"
"$grpo" help | head -2 | grep -q "BUILT-IN default" || fail "grpo help does not say its defaults are built-in"
"$grpo" help "$recipe" | grep -q '^steps = 600 ' || fail "grpo help RECIPE does not show the recipe's values"

# Generic data: every malformed input stops with one line naming the file, line and field (exit 2).
mkdir -p "$work/d"
printf '{"prompt": "1+1=", "answer": "2"}\n{"prompt": "2+2=", "answer": "4"\n' >"$work/d/notjson.jsonl"
printf '{"prompt": "1+1=", "answer": "2"}\n{"question": "2+2=", "answer": "4"}\n' >"$work/d/noprompt.jsonl"
printf '{"prompt": "1+1=", "answer": "2"}\n{"prompt": "2+2="}\n' >"$work/d/noanswer.jsonl"
printf '\n' >"$work/d/empty.jsonl"
printf '{"prompt": "1+1=", "answer": "2"}\n{"prompt": "2+2=", "answer": "4"}\n' >"$work/d/good.jsonl"
files() { echo "data.source=files" "data.train=[\"$1\"]" "data.prompt_field=prompt" "data.answer_field=answer"; }
# shellcheck disable=SC2046
expect_error "$work/d/notjson.jsonl:2" data show "$recipe" $(files "$work/d/notjson.jsonl")
# shellcheck disable=SC2046
expect_error "$work/d/noprompt.jsonl:2: no field 'prompt'" data show "$recipe" $(files "$work/d/noprompt.jsonl")
# shellcheck disable=SC2046
expect_error "$work/d/noanswer.jsonl:2: no field 'answer'" data show "$recipe" $(files "$work/d/noanswer.jsonl")
# shellcheck disable=SC2046
expect_error "$work/d/empty.jsonl holds no records" data show "$recipe" $(files "$work/d/empty.jsonl")
# shellcheck disable=SC2046
expect_error "unknown reward 'poetry'" data show "$recipe" $(files "$work/d/good.jsonl") "reward.weights={poetry=1}"
expect_error "'reward.weights.countdown' expects a number" train "$recipe" reward.weights.countdown=high
expect_error "unknown data.preset 'alpaca'" data show "$recipe" data.preset=alpaca
expect_error "data.chat_template" data show "$recipe" data.chat_template=alpaca
expect_error "run.threads must be >= 0" sft "$recipe" run.threads=-1
expect_error "rl.samples_every must be >= 0" train "$recipe" rl.samples_every=-1
expect_error "eval.every must be >= 0" train "$recipe" eval.every=-2
# A model directory without a tokenizer: one line, and the run directory's log.txt says why too.
expect_error "holds no tokenizer" train "$recipe" model.path="$2/../tests/fixtures/models/qwen2" run.out_dir="$work/notok"
grep -q "holds no tokenizer" "$work/notok/grpo/log.txt" || fail "the failed run's log.txt lacks the error"
# shellcheck disable=SC2046
"$grpo" data show "$recipe" $(files "$work/d/good.jsonl") --n 1 >"$work/d/show.txt" 2>/dev/null || fail "data show"
grep -q -- "--- grpo draw 0 (4 tokens) ---" "$work/d/show.txt" || fail "data show printed: $(cat "$work/d/show.txt")"
"$grpo" data export "$recipe" --out "$work/d/cd" 2>/dev/null || fail "data export"
[ "$(wc -l <"$work/d/cd/heldout.jsonl")" -eq 1593 ] || fail "data export: heldout.jsonl has $(wc -l <"$work/d/cd/heldout.jsonl") lines"
grep -q '"numbers":\[' "$work/d/cd/train.jsonl" || fail "data export: train.jsonl lacks numbers"

# A small, fast configuration of the default recipe.
small=(run.out_dir="$work/run" model.preset=test-moe data.eval_size=50 sft.batch_size=16 sft.eval_every=0
       rl.prompts_per_step=4 rl.group_size=4 eval.every=0 run.save_every=2 run.keep_checkpoints=2)
"$grpo" sft "$recipe" "${small[@]}" sft.steps=3 2>/dev/null || fail "sft failed"
[ -f "$work/run/sft/checkpoints/step_000003/model.safetensors" ] || fail "no SFT checkpoint"
expect_error "rl.micro_batch_tokens = 20 is shorter than one sequence" train "$recipe" "${small[@]}" \
  run.out_dir="$work/mbt" model.path="$work/run/sft/checkpoints/step_000003" rl.micro_batch_tokens=20

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

# Resuming with a changed recipe is refused, naming the key; allowed when asked, keeping that segment's config.
expect_error "rl.lr" train "$recipe" "${small[@]}" rl.steps=$((target + 1)) rl.lr=1e-3 run.resume=true
"$grpo" train "$recipe" "${small[@]}" rl.steps=$((target + 1)) rl.lr=1e-3 run.resume=true run.allow_config_change=true \
  2>/dev/null || fail "resume with run.allow_config_change=true failed"
ls "$work/run/grpo" | grep -q "^config.resume-001-step_[0-9]*.toml$" || fail "no config.resume-*.toml: $(ls "$work/run/grpo")"
grep -q "^lr = 5e-5" "$work/run/grpo/config.toml" || fail "config.toml was overwritten"
# A third segment with the second's settings resumes (compared with the newest segment's config), a change again not.
"$grpo" train "$recipe" "${small[@]}" rl.steps=$((target + 2)) rl.lr=1e-3 run.resume=true 2>/dev/null ||
  fail "resuming with the previous segment's settings was refused"
ls "$work/run/grpo" | grep -q "^config.resume-002-step_[0-9]*.toml$" || fail "no second segment config: $(ls "$work/run/grpo")"
expect_error "rl.lr" train "$recipe" "${small[@]}" rl.steps=$((target + 3)) run.resume=true
echo "ok: a changed recipe is refused on resume, and kept beside config.toml when allowed"

# An external reward program that crashes, hangs past its deadline or prints garbage: each is scored with a verdict
# and the run goes on.
cat >"$work/ext.py" <<'PY'
import json, os, sys, time
count = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ext.count")  # survives restarts
for line in sys.stdin:
    n = (int(open(count).read()) if os.path.exists(count) else 0) + 1
    open(count, "w").write(str(n))
    req = json.loads(line)
    if n % 16 == 3:
        os._exit(1)           # crash
    if n % 16 == 6:
        time.sleep(30)        # hang past reward.external_timeout
    if n % 16 == 9:
        print("???", flush=True)  # garbage
        continue
    print(1.0 if len(req["completion"]) % 2 else 0.0, flush=True)
PY
"$grpo" train "$recipe" "${small[@]}" run.out_dir="$work/ext" model.path="$work/run/sft/checkpoints/step_000003" \
  rl.steps=2 "reward.weights={external=1}" reward.external_command="python3 $work/ext.py" reward.external_timeout=1 \
  2>"$work/ext.log" || fail "a run with a failing external reward stopped: $(tail -3 "$work/ext.log")"
m=$(grep '"step":1,' "$work/ext/grpo/metrics.jsonl")
for v in internal_error timeout ok; do
  printf '%s' "$m" | grep -q "\"$v\":" || fail "external reward: no $v verdict in step 1's metrics: $m"
done
[ -f "$work/ext/grpo/checkpoints/step_000002/trainer_state.json" ] || fail "the external-reward run did not finish"
echo "ok: external reward crash, hang and garbage scored; the run went on"

# The learner scores at the rollout's temperature: at T = 0.7 with top-p 0.9 the first update's ratio is 1.
"$grpo" train "$recipe" "${small[@]}" run.out_dir="$work/temp" model.path="$work/run/sft/checkpoints/step_000003" \
  rl.steps=1 rollout.temperature=0.7 rollout.top_p=0.9 rl.drop_zero_variance=false 2>"$work/temp.log" ||
  fail "train at T=0.7: $(tail -3 "$work/temp.log")"
ratio=$(grep '"step":1,' "$work/temp/grpo/metrics.jsonl" | grep -o '"ratio_mean":[0-9.e-]*' | cut -d: -f2)
awk -v r="$ratio" 'BEGIN { exit !(r > 0.9999 && r < 1.0001) }' || fail "first ratio at T=0.7 is $ratio, not 1"
echo "ok: the first ratio at T=0.7, top-p 0.9 is $ratio"

