// Countdown verifier (TinyZero): the last <answer>...</answer> must hold an arithmetic expression that
// uses each given number exactly once and equals the target. Includes the safe, bounded expression parser.
// Not the problem generator or solver (rl/countdown_solver), and not a general math-answer checker.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rewards/rational.h"
#include "rewards/score.h"

namespace grpo::rewards {

struct CountdownProblem {
  std::vector<int64_t> numbers;  // each must be used exactly once (a multiset: repeats allowed)
  int64_t target = 0;            // the value the equation must reach
};

struct CountdownConfig {
  double correct_reward = 1.0;    // equation uses each number once and equals target (TinyZero score)
  double format_reward = 0.1;     // <answer> parses but wrong value or wrong numbers (TinyZero format_score)
  size_t max_answer_chars = 256;  // longer answer contents are unparsable, not parsed
  int max_depth = 64;             // parenthesis nesting bound, 0..kMaxParseDepth
};

// Hard upper bound on max_depth: the parser recurses once per open parenthesis.
constexpr int kMaxParseDepth = 256;

// Most digits one literal may have; 18 digits always fit in int64.
constexpr int kMaxLiteralDigits = 18;

struct ParsedExpression {
  bool ok = false;                    // well_formed and arithmetic succeeded: `value` is meaningful
  Rational value;                     // exact value (only when ok)
  std::vector<int64_t> literals;      // integer literals in order of appearance (when well_formed)
  std::string error;                  // why not ok: syntax error, "division by zero" or "overflow"
  bool well_formed = false;           // syntactically valid (arithmetic may still have failed)
  ArithStatus arith = ArithStatus::ok;  // first arithmetic failure, left to right
};

// Parses non-negative integer literals, + - * / and parentheses; spaces, tabs and newlines between
// tokens. No unary minus, no decimals, no '**'. Linear in expr.size(); recursion bounded by max_depth.
// NOTE: a division by zero or an int64 overflow does not stop parsing: the rest is still checked for
// syntax, so "1/0+2" is well_formed (with arith = division_by_zero) and "1/0+x" is not.
// REQUIRES: 0 <= max_depth <= kMaxParseDepth.
ParsedExpression parse_arithmetic(std::string_view expr, int max_depth);

// The content of the last <answer>...</answer> pair, with the same pairing as TinyZero's
// re.finditer(r'<answer>(.*?)</answer>') (left to right, non-overlapping, shortest) except that the
// content may span lines. nullopt when there is no complete pair. Linear time.
std::optional<std::string_view> extract_last_answer(std::string_view completion);

// Scores one completion. components: {"correct": 0|1, "format": 0|1}.
//   no answer pair, or it does not parse       -> 0,              unparsable
//   parses, wrong multiset of numbers           -> format_reward,  wrong ("uses 7 twice, given once")
//   parses, division by zero or int64 overflow  -> format_reward,  wrong ("division by zero")
//   parses, value != target                     -> format_reward,  wrong ("= 47/2, target 22")
//   otherwise                                   -> correct_reward, ok
// NOTE: TinyZero gives format_score to any extracted answer, even letters; we give it only to answers
// that parse, so the format reward teaches well-formed equations.
Score score_countdown(std::string_view completion, const CountdownProblem& p, const CountdownConfig& cfg = {});

// Reads meta {"numbers": "3,15,7", "target": "22"}; nullopt with *error set when malformed.
std::optional<CountdownProblem> parse_countdown_meta(const Meta& meta, std::string* error);

// score_countdown on the problem in meta; malformed meta -> Score{0, invalid_input, detail}.
Score score_countdown_meta(std::string_view completion, const Meta& meta, const CountdownConfig& cfg = {});

// "3,15,7": the meta form of a number list.
std::string format_countdown_numbers(const std::vector<int64_t>& numbers);

}  // namespace grpo::rewards
