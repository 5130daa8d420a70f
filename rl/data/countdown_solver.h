// Countdown solver: exhaustive search over binary combination steps with exact rationals, used to build
// the task set (which targets are reachable) and SFT targets (an equation plus a short trace).
// Pure C++ (no LibTorch). Not the verifier: rewards/countdown scores answers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "rewards/rational.h"

namespace grpo::rl::data {

// Which intermediate results a search may use.
enum class StepRule {
  rational,              // any exact rational, negative or fractional (what the verifier accepts)
  non_negative_integer,  // every step's result is an integer >= 0 (the classic game's rule, with 0)
};

// Most numbers a search accepts: 6 numbers already take ~2e7 leaves; 7 would take ~2.6e9.
constexpr size_t kMaxSolverNumbers = 6;

struct CountdownStep {
  rewards::Rational a;       // left operand as written in the trace
  rewards::Rational b;       // right operand
  char op = '+';             // one of + - * /
  rewards::Rational result;  // a op b
};

struct CountdownSolution {
  std::string equation;              // e.g. "(15+7)*3": minimal parentheses, each number exactly once
  std::string trace;                 // e.g. "15+7=22,22*3=66": the steps in order, no spaces;
                                     // fractional or negative operands in parentheses: "6/(1/4)=24"
  std::vector<CountdownStep> steps;  // the same steps as values
  bool integer_steps = false;        // every intermediate result is a non-negative integer
};

// All distinct solutions (distinct by equation string) that combine ALL numbers with + - * /, each
// exactly once, by binary steps (pick two remaining values, combine, repeat). Division by zero and
// int64 overflow prune a branch. Deterministic order (depth-first over pairs, then + * - - / /).
// At most max_solutions. An unreachable target gives an empty vector. With StepRule::non_negative_integer
// only solutions whose every step result is an integer >= 0 are searched.
// NOTE: for + and * the operand with the larger value is written first ("15+7", never "7+15"), ties
// broken by the text; parentheses are added only where precedence or the non-associative right side
// of - and / needs them: a-(b-c), a/(b*c), a*(b-c); but a+b-c and a*b/c.
// REQUIRES: 1 <= numbers.size() <= kMaxSolverNumbers, every number >= 0.
std::vector<CountdownSolution> solve_countdown(const std::vector<int64_t>& numbers, int64_t target,
                                               size_t max_solutions = 64, StepRule rule = StepRule::rational);

// Every integer target in [min_target, max_target] reachable from these numbers (using all of them),
// sorted ascending. Values only, no strings: microseconds for 3 numbers, well under 1 ms for 4.
// REQUIRES: as solve_countdown, and min_target <= max_target.
std::vector<int64_t> reachable_targets(const std::vector<int64_t>& numbers, int64_t min_target,
                                       int64_t max_target, StepRule rule = StepRule::rational);

}  // namespace grpo::rl::data
