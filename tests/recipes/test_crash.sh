#!/usr/bin/env bash
# kill -9 in the middle of a checkpoint write, three times, then resume: every step_* directory left is complete and
# loads, the dead writer's temporary directory is never taken for a checkpoint (and is cleaned up later), and the
# resumed run's steps equal an uninterrupted run's, number for number. The training set is 6 prompts drawn 4 per
# step, so the runs cross epoch boundaries (where verl once resumed into zero steps).
# Usage: test_crash.sh GRPO RECIPE_DIR
set -u
grpo=$1
recipe=$2/countdown-tiny.toml
source "$(dirname "$0")/cli_lib.sh"

"$grpo" data export "$recipe" --out "$work/cd" 2>/dev/null || fail "data export"
head -6 "$work/cd/train.jsonl" >"$work/train6.jsonl"
common=(model.preset=tiny-moe data.eval_size=8 sft.batch_size=16 sft.eval_every=0 eval.every=0
        rl.prompts_per_step=4 rl.group_size=4 run.save_every=1 run.keep_checkpoints=0 run.threads=1)
"$grpo" sft "$recipe" "${common[@]}" run.out_dir="$work/sft" sft.steps=3 2>/dev/null || fail "sft failed"
common+=(data.source=files "data.train=[\"$work/train6.jsonl\"]" "data.eval=[\"$work/cd/heldout.jsonl\"]")
model=$work/sft/sft/checkpoints/step_000003
[ -f "$model/model.safetensors" ] || fail "no SFT checkpoint"
steps=12
run=(train "$recipe" "${common[@]}" model.path="$model" rl.steps=$steps)

"$grpo" "${run[@]}" run.out_dir="$work/ref" 2>"$work/ref.log" || fail "reference run failed: $(tail -3 "$work/ref.log")"

ck=$work/crash/grpo/checkpoints
kills=0
for attempt in $(seq 1 20); do
  resume=()
  [ -d "$ck" ] && resume=(run.resume=true)
  "$grpo" "${run[@]}" run.out_dir="$work/crash" "${resume[@]}" 2>>"$work/crash.log" &
  pid=$!
  # Let this segment complete one checkpoint (so the next segment resumes from it), then wait for the next write to
  # begin (its temporary directory appears) and kill -9 at once.
  before=$(ls "$ck" 2>/dev/null | grep -c '^step_')
  while kill -0 $pid 2>/dev/null && [ "$(ls "$ck" 2>/dev/null | grep -c '^step_')" -le "$before" ]; do sleep 0.01; done
  while kill -0 $pid 2>/dev/null; do
    if compgen -G "$ck/.tmp-*-$pid" >/dev/null; then kill -9 $pid; break; fi
  done
  wait $pid 2>/dev/null
  compgen -G "$ck/.tmp-*-$pid" >/dev/null || continue  # finished before the kill landed: try again
  kills=$((kills + 1))
  # Every step_* directory is complete; the newest loads.
  shopt -s nullglob
  for d in "$ck"/step_*; do
    for f in config.json model.safetensors optimizer.pt trainer_state.json tokenizer.json; do
      [ -s "$d/$f" ] || fail "kill $kills: $(basename "$d") lacks $f"
    done
  done
  last=$(ls "$ck" | grep '^step_' | sort | tail -1)
  [ -z "$last" ] || "$grpo" info --model "$ck/$last" --load >/dev/null 2>&1 || fail "kill $kills: $last does not load"
  echo "ok: kill -9 $kills landed during the write of $(basename "$(compgen -G "$ck/.tmp-*-$pid")"); newest complete: ${last:-none yet}"
  [ $kills -ge 3 ] && break
done
[ $kills -ge 3 ] || fail "only $kills of 20 kills landed during a checkpoint write"

"$grpo" "${run[@]}" run.out_dir="$work/crash" run.resume=true 2>>"$work/crash.log" || fail "final resume failed"
grep -q "grpo: done, $steps steps" "$work/crash.log" || fail "the resumed run did not finish"
compgen -G "$ck/.tmp-*" >/dev/null && fail "stale temporary checkpoints were left: $(ls -a "$ck")"

# The resumed run's steps are the uninterrupted run's (timings aside).
python3 - "$work/ref/grpo/metrics.jsonl" "$work/crash/grpo/metrics.jsonl" "$steps" <<'PY' || fail "the resumed run differs"
import json, sys
keys = ["reward_mean", "accuracy", "loss", "pg_loss", "grad_norm", "entropy", "clip_fraction", "ratio_mean",
        "completion_len", "learner_tokens", "data_cursor", "lr"]
def load(p):
    rows = {}
    for line in open(p):
        r = json.loads(line)
        rows[r["step"]] = r
    return rows
ref, got = load(sys.argv[1]), load(sys.argv[2])
n = int(sys.argv[3])
for s in range(1, n + 1):
    for k in keys:
        if ref[s].get(k) != got[s].get(k):
            sys.exit(f"step {s}: {k} {ref[s].get(k)} (uninterrupted) != {got[s].get(k)} (resumed)")
print(f"ok: steps 1-{n} equal the uninterrupted run's ({len(keys)} figures each)")
PY
