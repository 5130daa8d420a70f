// Are two parsed answers the same mathematical object? Numbers are compared exactly as rationals (GMP);
// anything with roots, pi, logs, trig or variables is compared by randomized identity testing: both trees are
// evaluated in 256-bit complex arithmetic (MPFR/MPC) at the same random points and must agree far beyond double
// precision at every point (Schwartz-Zippel). Structures compare by their own rules: sets unordered, tuples and
// points ordered, intervals with their open/closed ends, matrices entry by entry, "x = 2" against "2".
// A finite decimal never equals an irrational unless the caller sets a tolerance.
#pragma once

#include <string>

#include "rewards/math/expr.h"

namespace grpo::rewards::math {

struct EquivalenceConfig {
  double timeout_seconds = 1.0;    // per comparison; past it the verdict is timeout
  int precision_bits = 256;        // MPFR/MPC working precision
  int n_points = 4;                // random points for expressions with variables
  double relative_tolerance = 0;   // 0: agree to precision_bits - 40 bits; > 0: a recipe's numeric tolerance
};

struct EquivalenceResult {
  bool equal = false;
  bool timed_out = false;
  std::string detail;  // why not, for Score::detail
};

EquivalenceResult equivalent(const Expr& gold, const Expr& pred, const EquivalenceConfig& cfg = {});

// One text per value for exact numbers ("1/2" for 0.5, \frac{1}{2} and 2^{-1}); to_string(e) for anything else. What
// maj@k votes on.
std::string canonical_answer(const Expr& e);

}  // namespace grpo::rewards::math
