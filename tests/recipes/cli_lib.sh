# Shared by the command-line tests (source it after setting `grpo`): a temporary work directory removed on exit,
# fail, and expect_error.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# expect_error NEEDLE [NEEDLE...] -- ARGS...   (or expect_error NEEDLE ARGS... for one needle): the command exits
# with status 2 and prints exactly one line on stderr, containing every NEEDLE.
expect_error() {
  local needles=() out rc n
  if [[ " $* " == *" -- "* ]]; then
    while [ "$1" != "--" ]; do needles+=("$1"); shift; done
    shift
  else
    needles=("$1")
    shift
  fi
  out=$("$grpo" "$@" 2>&1 >/dev/null)
  rc=$?
  [ "$rc" -eq 2 ] || fail "exit status $rc (want 2) for: $*; output: $out"
  [ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] || fail "want one line on stderr for: $*: $out"
  for n in "${needles[@]}"; do
    printf '%s' "$out" | grep -qF -- "$n" || fail "message lacks '$n': $out"
  done
  echo "ok: $out"
}
