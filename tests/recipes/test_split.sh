#!/usr/bin/env bash
# Split placement (run.placement = split): rollout ranks generate, learner ranks train, weights go from the learners'
# rank 0 to the rollout ranks after each update. At rl.max_staleness = 0 a real `grpo train` on 1 learner + 1 rollout
# rank, and on 2 learners + 2 rollout ranks, takes the same 4 steps as one process (weights within 1e-5, equal
# rewards); at staleness 1 every step after the first trains on completions one update old, and the run resumes.
# Ctrl-C on the launcher stops every rank with the last checkpoint intact; a killed rollout rank ends the job, named.
# Usage: test_split.sh GRPO RECIPE_DIR
set -u
grpo=$1
recipe=$2/countdown-tiny.toml
source "$(dirname "$0")/cli_lib.sh"

source "$(dirname "$0")/dist_lib.sh"
small+=(run.save_every=2)
"$grpo" sft "$recipe" "${small[@]}" run.out_dir="$work/sft" sft.steps=3 2>/dev/null || fail "sft failed"
start=$work/sft/sft/checkpoints/step_000003
small+=(model.path="$start" rl.lr=1e-3)
ck() { echo "$1/grpo/checkpoints/step_$(printf %06d "$2")"; }

"$grpo" train "$recipe" "${small[@]}" rl.steps=4 run.out_dir="$work/one" 2>"$work/one.log" ||
  fail "one process: $(tail -3 "$work/one.log")"
for layout in "2 1" "4 2"; do
  set -- $layout
  n=$1 r=$2
  "$grpo" launch --nproc "$n" -- train "$recipe" "${small[@]}" rl.steps=4 run.out_dir="$work/s$n" run.placement=split \
    run.rollout_ranks="$r" rl.max_staleness=0 2>"$work/s$n.log" || fail "split on $n ranks: $(tail -5 "$work/s$n.log")"
  grep -q "split placement: $((n - r)) learner rank(s) and $r rollout rank(s)" "$work/s$n.log" ||
    fail "no placement line: $(head -5 "$work/s$n.log")"
  out=$(cmp "$(ck "$work/one" 4)" "$(ck "$work/s$n" 4)" "$start" "$work/one/grpo/metrics.jsonl" \
        "$work/s$n/grpo/metrics.jsonl") || fail "split ($((n - r)) learners, $r rollout) differs from one process: $out"
  echo "ok: staleness 0, $((n - r)) learner + $r rollout ranks = one process: $out"
done

# Staleness 1: step 1 trains on version-0 completions, every later step on completions one update old.
"$grpo" launch --nproc 2 -- train "$recipe" "${small[@]}" rl.steps=4 run.out_dir="$work/st1" run.placement=split \
  rl.max_staleness=1 rl.is_correction=token_truncate 2>"$work/st1.log" || fail "staleness 1: $(tail -5 "$work/st1.log")"
got=$(python3 -c 'import json,sys; print(" ".join(str(json.loads(l).get("staleness")) for l in open(sys.argv[1]) if "reward_mean" in l))' \
      "$work/st1/grpo/metrics.jsonl")
[ "$got" = "0 1 1 1" ] || fail "staleness per step: '$got', want '0 1 1 1'"
grep -q '"rollout_wait"' "$work/st1/grpo/metrics.jsonl" || fail "no rollout_wait time in the metrics"
echo "ok: staleness 1: per-step staleness $got"
# ... and resumes from its step-4 checkpoint to step 6.
"$grpo" launch --nproc 2 -- train "$recipe" "${small[@]}" rl.steps=6 run.out_dir="$work/st1" run.placement=split \
  rl.max_staleness=1 rl.is_correction=token_truncate run.resume=true 2>"$work/st1b.log" ||
  fail "staleness 1 resume: $(tail -5 "$work/st1b.log")"
[ -d "$(ck "$work/st1" 6)" ] || fail "no step-6 checkpoint after the resume"
echo "ok: staleness 1 resumed from step 4 to step 6"

# Ctrl-C on the launcher: every rank stops, rank 0 checkpoints, the launch exits 130 and nothing is left running.
interrupt_launch "split" "$work/int" --nproc 2 --grace 20 -- train "$recipe" "${small[@]}" rl.steps=100000 \
  run.out_dir="$work/int" run.placement=split run.save_every=1000

# The rollout rank killed (kill -9) mid-run: the launcher names it and stops the learner; no hang.
kill_rank1 "split" --nproc 2 --grace 5 -- train "$recipe" "${small[@]}" rl.steps=100000 run.out_dir="$work/kill" \
  run.placement=split
