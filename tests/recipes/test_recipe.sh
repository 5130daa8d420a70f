#!/usr/bin/env bash
# One shipped recipe end to end on CPU, on a tiny random checkpoint of its model family that carries a real tokenizer
# (the Qwen2 vocabulary in shared/data/tokenizers): `grpo init`, a couple of GRPO steps, `grpo eval` with samples,
# and the checkpoint it writes is a complete Hugging Face directory. The recipe's own settings are kept except the
# sizes (steps, batch, tokens) and the paths of the model and the data, which point at shared/data.
# Usage: test_recipe.sh GRPO RECIPE_DIR NAME
set -u
grpo=$1
recipes=$2
name=$3
recipe=$recipes/$name.toml
shared=${GRPO_SHARED_DATA:-$recipes/../../shared/data}
if [ ! -d "$shared/tokenizers/qwen2_vocab" ]; then
  echo "SKIPPED: recipe $name needs $shared (the Qwen2 vocabulary and the public datasets); set GRPO_SHARED_DATA"
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL ($name): $*"; exit 1; }
m=$shared/math

preset=tiny-qwen2
[ "$name" = smollm2-arith ] && preset=tiny-llama  # SmolLM2 is a llama
"$grpo" init --preset $preset --tokenizer "$shared/tokenizers/qwen2_vocab" --out "$work/model" >/dev/null ||
  fail "grpo init"
sizes=(run.out_dir="$work/run" model.path="$work/model" rl.steps=2 rl.prompts_per_step=2 rl.group_size=2
       rollout.max_new_tokens=12 data.eval_size=3 eval.every=0 run.save_every=0 eval.samples=2
       rl.drop_zero_variance=false)  # a random model's groups score alike: keep them so the learner runs
case $name in
  gsm8k-r1zero) data=("data.train=[\"$m/gsm8k_train.jsonl\"]" "data.eval=[\"$m/gsm8k_test.jsonl\"]") ;;
  math-r1zero) data=("data.train=[\"$m/math500.jsonl\"]" "data.eval=[\"$m/aime24.jsonl\", \"$m/amc23.jsonl\"]") ;;
  code-humaneval) data=("data.train=[\"$shared/code/humaneval.jsonl\"]" "data.eval=[\"$shared/code/humaneval.jsonl\"]") ;;
  countdown-tinyzero)
    # The generator's problems as TinyZero-style files (its records carry numbers and target).
    "$grpo" data export "$recipes/countdown-tiny.toml" --out "$work/cd" 2>/dev/null || fail "data export"
    data=("data.train=[\"$work/cd/train.jsonl\"]" "data.eval=[\"$work/cd/heldout.jsonl\"]") ;;
  smollm2-arith) data=() ;;  # generated word problems
  *) fail "unknown recipe" ;;
esac

"$grpo" train "$recipe" "${sizes[@]}" "${data[@]}" 2>"$work/train.log" || fail "train: $(tail -5 "$work/train.log")"
grep -q "grpo: done, 2 steps" "$work/train.log" || fail "train did not finish: $(tail -3 "$work/train.log")"
ckpt=$work/run/grpo/checkpoints/step_000002
for f in config.json model.safetensors generation_config.json tokenizer.json tokenizer_config.json trainer_state.json; do
  [ -s "$ckpt/$f" ] || fail "the checkpoint lacks $f"
done
[ "$(grep -c '"step"' "$work/run/grpo/metrics.jsonl")" -eq 3 ] || fail "metrics.jsonl: $(cat "$work/run/grpo/metrics.jsonl")"
grep -q '"reward_components"' "$work/run/grpo/metrics.jsonl" || fail "no reward components in metrics.jsonl"
grep '"step":2,' "$work/run/grpo/metrics.jsonl" | grep -q '"learner_tokens":[1-9]' || fail "the learner saw no tokens"

"$grpo" eval "$recipe" "${sizes[@]}" "${data[@]}" eval.model=grpo >"$work/eval.txt" 2>"$work/eval.log" ||
  fail "eval: $(tail -3 "$work/eval.log")"
grep -q "^accuracy: [0-9.]* (n=3)$" "$work/eval.txt" || fail "eval printed: $(cat "$work/eval.txt")"
grep -q "^pass@2: [0-9.]* (n=3)$" "$work/eval.txt" || fail "eval printed no pass@2: $(cat "$work/eval.txt")"
n=$(cat "$work"/run/eval/*.jsonl | grep -c '"verdict"')
sets=$(ls "$work"/run/eval/*.jsonl | wc -l)
[ "$n" -eq $((sets * 3 * 3)) ] || fail "eval wrote $n completions for $sets sets (want 9 per set)"
echo "ok: $name: 2 GRPO steps and an eval on a tiny random $preset with the Qwen2 tokenizer; $(tr '\n' ' ' <"$work/eval.txt")"

if [ "$name" = gsm8k-r1zero ]; then
  # SFT from any checkpoint on a response field (GSM8K's worked solutions), then GRPO from its output.
  "$grpo" sft "$recipe" "${sizes[@]}" "${data[@]}" sft.steps=2 sft.batch_size=2 sft.eval_every=0 2>"$work/sft.log" ||
    fail "sft: $(tail -3 "$work/sft.log")"
  [ -s "$work/run/sft/checkpoints/step_000002/model.safetensors" ] || fail "no SFT checkpoint"
  "$grpo" train "$recipe" "${sizes[@]}" "${data[@]}" model.path=sft rl.steps=1 run.out_dir="$work/run" \
    run.overwrite=true 2>"$work/train2.log" || fail "train from sft: $(tail -3 "$work/train2.log")"
  grep -q "from $work/run/sft/checkpoints/step_000002" "$work/train2.log" || fail "GRPO did not start from the SFT checkpoint"
  echo "ok: $name: sft on data.response_field, then GRPO from model.path=sft"
fi
