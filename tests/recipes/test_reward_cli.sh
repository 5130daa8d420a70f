#!/usr/bin/env bash
# grpo reward on the inputs users actually have (issue 10): a line that is valid JSON but not an object is
# scored invalid_input and the run goes on; "answer": null is an absent answer, not the expression n*u*l*l;
# MBPP rows with an entry point and plain asserts; --output replaced atomically, never left truncated.
# Usage: test_reward_cli.sh GRPO
set -u
grpo=$1
source "$(dirname "$0")/cli_lib.sh"

# Arrays, strings and numbers: one invalid_input line each with file:line, the other lines still scored.
cat >"$work/shapes.jsonl" <<'JSONL'
[1, 2]
{"completion": "\\boxed{4}", "answer": "4"}
"just a string"
42
{"completion": "\\boxed{5}", "answer": "4"}
JSONL
out=$("$grpo" reward --task math --input "$work/shapes.jsonl" 2>"$work/shapes.err") \
  || fail "reward exited $? on non-object lines: $(cat "$work/shapes.err")"
[ "$(printf '%s\n' "$out" | wc -l)" -eq 5 ] || fail "want 5 output lines, got: $out"
for n in 1 3 4; do
  printf '%s\n' "$out" | sed -n ${n}p | grep -q "\"line\":$n,.*\"verdict\":\"invalid_input\".*shapes.jsonl:$n: not a JSON object" \
    || fail "line $n: $out"
done
printf '%s\n' "$out" | sed -n 2p | grep -q '"verdict":"ok"' || fail "line 2: $out"
printf '%s\n' "$out" | sed -n 5p | grep -q '"verdict":"wrong"' || fail "line 5: $out"
grep -q "invalid_input=3 ok=1 wrong=1" "$work/shapes.err" || fail "summary: $(cat "$work/shapes.err")"
# The same through --output: a complete file, no temporary left beside it.
"$grpo" reward --task math --input "$work/shapes.jsonl" --output "$work/shapes.out" 2>/dev/null \
  || fail "reward --output exited $?"
[ "$(wc -l <"$work/shapes.out")" -eq 5 ] || fail "--output: want 5 lines, got: $(cat "$work/shapes.out")"
ls "$work" | grep -q '\.tmp\.' && fail "a temporary file was left: $(ls "$work")"

# A JSON null is an absent field: the math checker says the answer is missing.
printf '{"completion": "\\\\boxed{4}", "answer": null}\n' >"$work/null.jsonl"
out=$("$grpo" reward --task math --input "$work/null.jsonl" 2>/dev/null) || fail "reward failed on null"
printf '%s\n' "$out" | grep -q '"answer":null,.*"verdict":"invalid_input".*no \\"answer\\"' \
  || fail "\"answer\": null must be an absent answer: $out"

# Code rows: MBPP (entry point + plain asserts) and HumanEval (check(candidate)) forms, right and wrong.
cat >"$work/code.jsonl" <<'JSONL'
{"completion": "def add(a, b):\n    return a + b", "tests": "assert add(2, 3) == 5\nassert add(0, 0) == 0", "entry_point": "add"}
{"completion": "def add(a, b):\n    return a * b", "tests": "assert add(2, 3) == 5", "entry_point": "add"}
{"completion": "def add(a, b):\n    return a + b", "tests": "def check(candidate):\n    assert candidate(2, 3) == 5", "entry_point": "add"}
{"completion": "def add(a, b):\n    return a - b", "tests": "def check(candidate):\n    assert candidate(2, 3) == 5", "entry_point": "add"}
JSONL
out=$("$grpo" reward --task code --input "$work/code.jsonl" --threads 2 2>/dev/null) || fail "code reward failed"
verdicts=$(printf '%s\n' "$out" | grep -o '"verdict":"[a-z_]*"' | tr '\n' ' ')
[ "$verdicts" = '"verdict":"ok" "verdict":"wrong" "verdict":"ok" "verdict":"wrong" ' ] || fail "code verdicts: $out"

# --output is replaced atomically: when writing fails (here past a 1 KiB file-size limit, SIGXFSZ ignored so
# the write returns EFBIG), grpo reward exits 2 with one line and the previous file stays as it was.
for i in $(seq 1 40); do printf '{"completion": "\\\\boxed{%d}", "answer": "%d"}\n' "$i" "$i"; done >"$work/many.jsonl"
echo "previous results" >"$work/keep.out"
err=$( (trap '' XFSZ; ulimit -f 1; exec "$grpo" reward --task math --input "$work/many.jsonl" --output "$work/keep.out") 2>&1)
rc=$?
[ "$rc" -eq 2 ] || fail "write failure: exit status $rc (want 2): $err"
[ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] || fail "write failure: want one line: $err"
printf '%s' "$err" | grep -qF "$work/keep.out" || fail "write failure: message lacks the path: $err"
[ "$(cat "$work/keep.out")" = "previous results" ] || fail "a failed run changed --output: $(head -c 300 "$work/keep.out")"
ls "$work" | grep -q '\.tmp\.' && fail "a temporary file was left: $(ls "$work")"
echo "ok: grpo reward"
