// Decides whether a Python program passes its tests, in the two styles of code datasets: assert-based
// tests (HumanEval, MBPP) and stdin/stdout cases (APPS, CodeContests, LiveCodeBench). Every outcome is a
// Score; nothing throws for a bad program. Not the sandbox itself (sandbox.h) nor program extraction
// (code_reward.h).
//
// Threat model. The program is hostile and knows this file. It runs as nobody in its own bubblewrap
// sandbox (no network, read-only /usr, private tmpfs, seccomp, rlimits, wall-clock kill of its pid
// namespace). It must not be able to turn a failure into `ok`:
//  - Assert-style tests never run in the program's process. A trusted harness (python3 started by us,
//    in a second sandbox, its code in its own command line) runs the tests; every global name the
//    tests do not define (the entry point, helpers from the prompt) is looked up in the program, and
//    functions become proxies that send arguments over a pipe and get back tagged JSON. Only plain,
//    strictly decoded builtin values cross: an __eq__ that always returns True, patched asserts or
//    builtins, a rewritten test file, frame inspection of the caller or sys.exit before the asserts
//    all stay in the program's process and cannot make a comparison succeed.
//  - The verdict travels on a descriptor only the harness holds, prefixed by a per-run random token the
//    program never sees; exit statuses and anything the program prints are never read as success.
//  - stdin/stdout cases are compared here in C++ (whitespace-normalised) against the expected output.
//  - Failures of the program (crash, timeout, limits, protocol garbage) are `wrong` or `timeout`;
//    `sandbox_error` is reported only for failures before any untrusted code ran (a status line the
//    trusted bootstrap writes first), so a program cannot choose it.
// Known limits: values are plain data, so tests that need objects of the program's own classes, or
// that check in-place mutation of an argument, fail; as in the HumanEval harness, helper functions the
// tests take from the prompt are the program's (it may redefine them).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "rewards/code/sandbox.h"
#include "rewards/score.h"

namespace grpo::rewards::code {

// One stdin/stdout test case.
struct IoCase {
  std::string input;   // fed to the program's stdin
  std::string output;  // expected stdout, compared after normalize_output
};

// Runs `tests` (Python source with asserts) against `program`. When entry_point is not empty and the tests
// define `check` at top level (HumanEval), they are followed by `check(<entry_point>)`; otherwise (MBPP's
// plain asserts) the tests run as they are. Score: 1 and ok when the tests finish without an
// exception; 0 and wrong / timeout / unparsable (program does not compile) / invalid_input (tests do not
// compile) / sandbox_error otherwise; detail says which test line failed and why.
// REQUIRES: entry_point is empty or a Python identifier.
Score run_call_tests(std::string_view program, std::string_view tests, std::string_view entry_point,
                     const SandboxConfig& cfg);

// Runs `program` once per case (a fresh sandbox each, cfg.wall_seconds each), stopping at the first
// failing case. ok only when every case exits with status 0 and prints the expected output.
Score run_io_cases(std::string_view program, const std::vector<IoCase>& cases, const SandboxConfig& cfg);

// Trailing whitespace removed from every line, then trailing newlines; "\r\n" counts as "\n".
std::string normalize_output(std::string_view text);

}  // namespace grpo::rewards::code
