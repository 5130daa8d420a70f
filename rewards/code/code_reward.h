// The code reward: take the program out of a completion (the last ```python block, else the whole text)
// and score it against the task's tests in the sandbox (harness.h). Not the sandbox, not the harness.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rewards/code/harness.h"
#include "rewards/code/sandbox.h"
#include "rewards/score.h"

namespace grpo::rewards::code {

// What a completion is checked against: exactly one of `tests` and `cases` is non-empty.
struct CodeTask {
  std::string tests;          // assert-style Python (HumanEval's `def check(candidate)`, MBPP's asserts)
  std::string entry_point;    // optional: `check(<entry_point>)` follows tests that define check (HumanEval)
  std::vector<IoCase> cases;  // stdin/stdout cases (APPS, CodeContests, LiveCodeBench)
};

// The content of the last fenced block whose info string is python, py, python3 or empty (a closing
// fence is a line of ``` alone; an unclosed last block runs to the end); the whole completion when
// there is no such block.
std::string extract_program(std::string_view completion);

// Scores one completion. components: {"correct": 0|1}.
//   empty program                            -> 0, unparsable
//   the program does not compile             -> 0, unparsable
//   a test fails, crash, limits, garbage     -> 0, wrong (detail: which test and why)
//   wall-clock or CPU limit                  -> 0, timeout
//   malformed task (no tests, bad entry)     -> 0, invalid_input
//   the sandbox could not start              -> 0, sandbox_error
//   every test passes                        -> 1, ok
Score score_code(std::string_view completion, const CodeTask& task, const SandboxConfig& cfg = {});

// Reads meta {"tests": python, "entry_point": name} or {"cases": JSON list of {"input", "output"}};
// nullopt with *error set when malformed.
std::optional<CodeTask> parse_code_meta(const Meta& meta, std::string* error);

// score_code on the task in meta; malformed meta -> Score{0, invalid_input, detail}. The two-argument
// form (default SandboxConfig) is the registry's "code" checker.
Score score_code_meta(std::string_view completion, const Meta& meta, const SandboxConfig& cfg);
Score score_code_meta(std::string_view completion, const Meta& meta);

}  // namespace grpo::rewards::code
