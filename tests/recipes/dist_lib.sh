# Shared by the several-rank command-line tests (source after cli_lib.sh): a small countdown-tiny variant whose reward
# has variance from the completion alone (each rank runs its own copy of the program), and `compare`, which checks two
# checkpoints' weights within 1e-5 of each other and moved from a start, and, given two metrics files, the same
# rewards, lengths, learner tokens (and staleness, when both record it) at every step.
cat >"$work/reward.sh" <<'SH'
while read -r line; do echo "0.$(( ${#line} % 7 ))"; done
SH
small=(model.preset=test-moe data.eval_size=8 sft.batch_size=16 sft.eval_every=0 eval.every=0
       rl.prompts_per_step=4 rl.group_size=4 rl.drop_zero_variance=false run.threads=1
       "reward.weights={countdown = 1.0, external = 1.0}" reward.verifier=countdown
       reward.external_command="sh $work/reward.sh"
       rl.aux_loss_coef=0)  # the load-balancing loss is per micro-batch, and ranks split micro-batches otherwise
cat >"$work/compare.py" <<'PY'
import json, struct, sys

def tensors(ckpt):
    with open(ckpt + "/model.safetensors", "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, t in header.items():
        if name != "__metadata__":
            a, b = t["data_offsets"]
            out[name] = struct.unpack("<%df" % ((b - a) // 4), data[a:b])
    return out

wa, wb, w0 = tensors(sys.argv[1]), tensors(sys.argv[2]), tensors(sys.argv[3])
assert wa.keys() == wb.keys()
diff = max(abs(x - y) for k in wa for x, y in zip(wa[k], wb[k]))
moved = max(abs(x - y) for k in wa for x, y in zip(wa[k], w0[k]))
steps = 0
if len(sys.argv) > 5:
    ma = {r["step"]: r for r in map(json.loads, open(sys.argv[4])) if "reward_mean" in r}
    mb = {r["step"]: r for r in map(json.loads, open(sys.argv[5])) if "reward_mean" in r}
    assert ma.keys() == mb.keys() and ma, (sorted(ma), sorted(mb))
    for s, a in ma.items():
        b = mb[s]
        for k in ("reward_mean", "reward_std", "completion_len", "learner_tokens", "staleness"):
            if k not in a or k not in b:
                continue
            if abs(a[k] - b[k]) > 1e-9 * max(1, abs(a[k])):
                sys.exit(f"step {s}: {k} {a[k]} (first) != {b[k]} (second)")
        steps += 1
print(f"weights differ by at most {diff:.2e} (moved {moved:.2e} from the start); metrics equal in {steps} steps")
sys.exit(0 if diff < 1e-5 and moved > 1e-4 else 1)
PY
cmp() { python3 "$work/compare.py" "$@"; }

# kill_rank1 NAME LAUNCH_ARGS...: starts `grpo launch LAUNCH_ARGS` (stderr to $work/NAME.log), kills rank 1 with
# SIGKILL once the run has begun, and checks that the launcher names it, exits non-zero within 20 s, and leaves no rank.
kill_rank1() {
  local name=$1 log="$work/$1.log" launcher victim="" rc took t0
  shift
  "$grpo" launch "$@" 2>"$log" &
  launcher=$!
  for _ in $(seq 1 600); do
    for c in $(pgrep -P $launcher); do
      tr '\0' '\n' </proc/$c/environ 2>/dev/null | grep -qx "RANK=1" && victim=$c
    done
    [ -n "$victim" ] && grep -q "grpo\] step" "$log" && break
    sleep 0.1
  done
  [ -n "$victim" ] || { kill $launcher; fail "$name: rank 1 never started: $(tail -3 "$log")"; }
  kill -9 "$victim"
  t0=$(date +%s)
  wait $launcher
  rc=$?
  took=$(( $(date +%s) - t0 ))
  [ $rc -ne 0 ] || fail "$name: the launch with a killed rank exited 0"
  grep -q "grpo launch: rank 1 ended with signal Killed; stopping the other ranks" "$log" ||
    fail "$name: rank 1 not named: $(grep 'grpo launch' "$log")"
  [ $took -le 20 ] || fail "$name: the launch took $took s to end after the kill"
  pgrep -P $launcher >/dev/null 2>&1 && fail "$name: ranks left running"
  echo "ok: $name: rank 1 killed; the launch ended in $took s with status $rc"
}

# interrupt_launch NAME OUT_DIR LAUNCH_ARGS...: starts `grpo launch LAUNCH_ARGS` (a GRPO run writing OUT_DIR), sends
# the launcher SIGINT (Ctrl-C) once a few steps are done, and checks that it exits 130 with no rank left running, that
# rank 0 wrote a checkpoint on the way out, and that the newest checkpoint is complete.
interrupt_launch() {
  local name=$1 out=$2 log="$work/$1.log" launcher rc last
  shift 2
  "$grpo" launch "$@" 2>"$log" &
  launcher=$!
  for _ in $(seq 1 600); do
    grep -q "grpo\] step [3-9]" "$log" 2>/dev/null && break
    sleep 0.1
  done
  kill -INT $launcher
  wait $launcher
  rc=$?
  [ $rc -eq 130 ] || fail "$name: the interrupted launch exited $rc: $(tail -3 "$log")"
  grep -q "interrupted after step" "$log" || fail "$name: no checkpoint on interrupt: $(tail -3 "$log")"
  last=$(ls -d "$out/grpo/checkpoints"/step_* | tail -1)
  [ -f "$last/model.safetensors" ] && [ -f "$last/optimizer.pt" ] && [ -f "$last/trainer_state.json" ] ||
    fail "$name: checkpoint $last incomplete"
  pgrep -P $launcher >/dev/null 2>&1 && fail "$name: ranks left running"
  echo "ok: $name: Ctrl-C: exit 130, $(basename "$last") complete"
}
