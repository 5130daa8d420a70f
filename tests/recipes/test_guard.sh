#!/usr/bin/env bash
# The spike guard in a real run: an external reward program poisons three steps in a row (rewards of +-1000 where
# they were ~0.1, so the gradient norm jumps by orders of magnitude; advantages unscaled, as in Dr. GRPO). Each
# poisoned update is skipped and logged with its prompts; after the third the run rolls back to the checkpoint saved
# before them and finishes. Usage: test_guard.sh GRPO RECIPE_DIR
set -u
grpo=$1
recipe=$2/countdown-tiny.toml
source "$(dirname "$0")/cli_lib.sh"

# Calls 1-20: the step-0 evaluation; 21-116 (steps 1-6 at 4 x 4 completions): small varied rewards; 117-164 (steps
# 7-9): +-1000; then small again.
cat >"$work/reward.sh" <<'SH'
n=0
while read -r line; do
  n=$((n + 1))
  if [ $n -gt 116 ] && [ $n -le 164 ]; then
    [ $((n % 2)) -eq 0 ] && echo 1000 || echo -1000
  else
    echo "0.$((n * 7 % 5))"
  fi
done
SH
small=(run.out_dir="$work/run" model.preset=test-moe data.eval_size=20 sft.batch_size=16 sft.eval_every=0
       rl.prompts_per_step=4 rl.group_size=4 eval.every=0 run.save_every=2 run.keep_checkpoints=0
       rl.drop_zero_variance=false rl.scale_by_std=false rl.stream_scoring=false
       "reward.weights={countdown = 1.0, external = 1.0}" reward.external_command="sh $work/reward.sh"
       reward.verifier=countdown rl.spike_factor=10 rl.spike_warmup=3 rl.spike_max_skips=3)
"$grpo" sft "$recipe" "${small[@]}" sft.steps=3 2>/dev/null || fail "sft failed"
"$grpo" train "$recipe" "${small[@]}" rl.steps=12 2>"$work/train.log" || fail "train failed: $(tail -5 "$work/train.log")"
grep -q "grpo: done, 12 steps" "$work/train.log" || fail "the run did not finish: $(tail -3 "$work/train.log")"
skips=$(grep -c "update skipped: grad norm .* x median" "$work/train.log")
[ "$skips" -eq 3 ] || fail "want 3 skipped updates, got $skips: $(grep skipped "$work/train.log")"
for s in 7 8 9; do
  grep -q "^step $s: update skipped: .*; prompts \[[0-9,]*\]" "$work/train.log" || fail "step $s was not skipped"
done
grep -q "^step 9: 3 updates skipped in a row; rolled back to .*checkpoints/step_000006, continuing" "$work/train.log" ||
  fail "no rollback to step_000006 after step 9: $(grep -i roll "$work/train.log")"
m=$work/run/grpo/metrics.jsonl
grep '"step":9,' "$m" | grep -q '"rolled_back_to":".*step_000006"' || fail "metrics lack rolled_back_to at step 9"
grep '"step":10,' "$m" | grep -q '"update_skipped":false' || fail "step 10 (clean data again) was not applied"
grep '"step":6,' "$m" | grep -q '"update_skipped":false' || fail "step 6 was skipped"
echo "ok: 3 poisoned steps skipped (grad norm > 10 x median), rolled back to step_000006, the run finished"
