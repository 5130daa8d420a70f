#!/usr/bin/env bash
# grpo launch: 2 and 4 data-parallel ranks (c10d over Gloo) of a real `grpo train` take the same 3 steps as one
# process on the same global batch: the checkpoints' weights agree within 1e-5 and rank 0's merged metrics show the
# same rewards; so do dynamic sampling and a batch-wide std. Ctrl-C stops every rank with a checkpoint; a rank that
# fails stops the others, named. Usage: test_launch.sh GRPO RECIPE_DIR
set -u
grpo=$1
recipe=$2/countdown-tiny.toml
source "$(dirname "$0")/cli_lib.sh"

source "$(dirname "$0")/dist_lib.sh"
small+=(run.save_every=3)
ck() { echo "$1/checkpoints/step_$(printf %06d "$2")"; }

"$grpo" sft "$recipe" "${small[@]}" run.out_dir="$work/sft" sft.steps=3 2>/dev/null || fail "sft failed"
start=$(ck "$work/sft/sft" 3)
init=$work/init
"$grpo" sft "$recipe" "${small[@]}" run.out_dir="$init" sft.steps=3 sft.lr=1e-30 2>/dev/null || fail "sft (start) failed"
"$grpo" launch --nproc 2 -- sft "$recipe" "${small[@]}" run.out_dir="$work/sft2" sft.steps=3 2>"$work/sft2.log" ||
  fail "launch sft: $(tail -3 "$work/sft2.log")"
out=$(cmp "$start" "$(ck "$work/sft2/sft" 3)" "$(ck "$init/sft" 3)") || fail "SFT on 2 ranks differs: $out"
echo "ok: SFT on 2 ranks: $out"

small+=(model.path="$start" rl.lr=1e-3)
"$grpo" train "$recipe" "${small[@]}" rl.steps=3 run.out_dir="$work/one" 2>"$work/one.log" || fail "one process: $(tail -3 "$work/one.log")"
for n in 2 4; do
  "$grpo" launch --nproc $n -- train "$recipe" "${small[@]}" rl.steps=3 run.out_dir="$work/n$n" 2>"$work/n$n.log" ||
    fail "launch --nproc $n: $(tail -5 "$work/n$n.log")"
  grep -q "rank 0 of $n data-parallel ranks" "$work/n$n.log" || fail "no rank line: $(head -5 "$work/n$n.log")"
  out=$(cmp "$(ck "$work/one/grpo" 3)" "$(ck "$work/n$n/grpo" 3)" "$start" "$work/one/grpo/metrics.jsonl" \
        "$work/n$n/grpo/metrics.jsonl") || fail "$n ranks differ from one process: $out"
  echo "ok: GRPO on $n ranks: $out"
done

# Resume at another world size: the 2-rank run continues on 4 ranks to step 5, as one process runs 5 steps.
"$grpo" train "$recipe" "${small[@]}" rl.steps=5 run.out_dir="$work/one5" 2>/dev/null || fail "one process, 5 steps"
"$grpo" launch --nproc 4 -- train "$recipe" "${small[@]}" rl.steps=5 run.out_dir="$work/n2" run.resume=true \
  2>"$work/resume.log" || fail "resume on 4 ranks: $(tail -3 "$work/resume.log")"
grep -q "resuming .*step_000003" "$work/resume.log" || fail "did not resume from step 3: $(head -3 "$work/resume.log")"
out=$(cmp "$(ck "$work/one5/grpo" 5)" "$(ck "$work/n2/grpo" 5)" "$start" "$work/one5/grpo/metrics.jsonl" \
      "$work/n2/grpo/metrics.jsonl") || fail "2 ranks resumed on 4 differ from one process: $out"
echo "ok: 3 steps on 2 ranks, resumed on 4 to step 5: $out"

# Dynamic sampling across ranks: a coarse reward (completion length odd or even) leaves many groups without signal,
# so steps draw more rounds; the ranks agree on the counts and keep the first B groups in draw order, as one process
# does; and a batch-wide std (rl.std_scope = batch) is the whole batch's.
cat >"$work/coarse.sh" <<'SH'
while read -r line; do echo "$(( ${#line} % 2 ))"; done
SH
ds=(rl.dynamic_sampling=true rl.drop_zero_variance=true rl.std_scope=batch "reward.weights={external = 1.0}" reward.verifier=external
    reward.external_command="sh $work/coarse.sh")
"$grpo" train "$recipe" "${small[@]}" "${ds[@]}" rl.steps=4 run.out_dir="$work/ds1" 2>"$work/ds1.log" ||
  fail "dynamic sampling, one process: $(tail -3 "$work/ds1.log")"
"$grpo" launch --nproc 2 -- train "$recipe" "${small[@]}" "${ds[@]}" rl.steps=4 run.out_dir="$work/ds2" \
  2>"$work/ds2.log" || fail "dynamic sampling on 2 ranks: $(tail -5 "$work/ds2.log")"
rounds=$(python3 -c 'import json,sys; print(max(json.loads(l).get("draw_rounds", 0) for l in open(sys.argv[1])))' \
         "$work/ds1/grpo/metrics.jsonl")
[ "$rounds" -gt 1 ] || fail "no step drew a second round: the case does not exercise dynamic sampling"
out=$(cmp "$(ck "$work/ds1/grpo" 4)" "$(ck "$work/ds2/grpo" 4)" "$start" "$work/ds1/grpo/metrics.jsonl" \
      "$work/ds2/grpo/metrics.jsonl") || fail "dynamic sampling on 2 ranks differs from one process: $out"
for k in prompts_drawn groups_trained draw_rounds; do
  a=$(python3 -c 'import json,sys; print([json.loads(l).get(sys.argv[2]) for l in open(sys.argv[1]) if "reward_mean" in l])' \
      "$work/ds1/grpo/metrics.jsonl" $k)
  b=$(python3 -c 'import json,sys; print([json.loads(l).get(sys.argv[2]) for l in open(sys.argv[1]) if "reward_mean" in l])' \
      "$work/ds2/grpo/metrics.jsonl" $k)
  [ "$a" = "$b" ] || fail "$k: $a (one process) != $b (2 ranks)"
done
echo "ok: dynamic sampling (up to $rounds rounds a step) and a batch-wide std on 2 ranks = one process: $out"

# Under torchrun (PyPI's, when there is one: GRPO_TORCHRUN or on PATH), whose agent holds MASTER_PORT.
torchrun=${GRPO_TORCHRUN:-$(command -v torchrun || true)}
if [ -n "$torchrun" ] && [ -x "$torchrun" ]; then
  "$torchrun" --nproc-per-node 2 --no-python "$grpo" train "$recipe" "${small[@]}" rl.steps=3 run.out_dir="$work/tr" \
    >"$work/tr.log" 2>&1 || fail "torchrun: $(grep -m3 'error' "$work/tr.log")"
  out=$(cmp "$(ck "$work/one/grpo" 3)" "$(ck "$work/tr/grpo" 3)" "$start" "$work/one/grpo/metrics.jsonl" \
        "$work/tr/grpo/metrics.jsonl") || fail "2 ranks under torchrun differ from one process: $out"
  echo "ok: GRPO on 2 ranks under $torchrun: $out"
else
  echo "SKIPPED: no torchrun here (set GRPO_TORCHRUN to PyPI's); grpo launch was checked instead"
fi

# Ctrl-C on the launcher: the ranks agree on the step to stop after, rank 0 checkpoints, the launch exits 130.
interrupt_launch "colocated" "$work/int" --nproc 2 --grace 20 -- train "$recipe" "${small[@]}" rl.steps=100000 \
  run.out_dir="$work/int" run.save_every=1000

# A rank killed mid-run (kill -9): the launcher names it, stops rank 0, and exits non-zero; no hang.
kill_rank1 "colocated" --nproc 2 --grace 5 -- train "$recipe" "${small[@]}" run.out_dir="$work/kill" rl.steps=100000
