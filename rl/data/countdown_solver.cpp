// Countdown solver: depth-first search over "pick two values, combine with + - * /" until one value is
// left. reachable_targets tracks values only; solve_countdown also builds equation text and a trace.
#include "rl/data/countdown_solver.h"

#include <algorithm>
#include <array>
#include <unordered_set>

#include "kernels/check.h"

namespace grpo::rl::data {
namespace {

using rewards::Rational;
using rewards::RationalResult;

constexpr int kPrecAdd = 1;   // + and -
constexpr int kPrecMul = 2;   // * and /
constexpr int kPrecAtom = 3;  // a literal or a parenthesised expression

// One combination candidate: result = left op right, written in this operand order.
struct Candidate {
  int left;   // index into the pair {0: first value, 1: second value}
  char op;
  RationalResult result;
};

// The six ways to combine two values x and y: x+y, x*y, x-y, y-x, x/y, y/x. `left` tells which operand
// the equation writes first; for + and * the caller reorders by size later.
std::array<Candidate, 6> candidates(const Rational& x, const Rational& y) {
  return {{{0, '+', rewards::add(x, y)},
           {0, '*', rewards::mul(x, y)},
           {0, '-', rewards::sub(x, y)},
           {1, '-', rewards::sub(y, x)},
           {0, '/', rewards::div(x, y)},
           {1, '/', rewards::div(y, x)}}};
}

bool allowed(const RationalResult& r, StepRule rule) {
  if (!r.ok()) return false;  // division by zero or overflow: prune
  if (rule == StepRule::non_negative_integer) return r.value.is_integer() && r.value.num() >= 0;
  return true;
}

void check_numbers(const std::vector<int64_t>& numbers) {
  GRPO_CHECK(!numbers.empty() && numbers.size() <= kMaxSolverNumbers, "countdown solver takes 1..",
             kMaxSolverNumbers, " numbers, got ", numbers.size(), "; use fewer numbers per problem");
  for (int64_t n : numbers) {
    GRPO_CHECK(n >= 0, "countdown solver: number ", n, " is negative; Countdown numbers are >= 0");
  }
}

// ---- reachable_targets: values only -------------------------------------------------------------

// NOTE: hits are deduplicated in a bitmap over [lo, hi] when that range is small: sorting the raw
// hits (up to ~4k for 4 numbers) would cost more than the search itself.
constexpr int64_t kMaxBitmapRange = int64_t{1} << 20;

struct Reach {
  int64_t lo;
  int64_t hi;
  StepRule rule;
  std::vector<int64_t> hits;  // when the range is too wide for the bitmap
  std::vector<bool> seen;     // seen[v - lo], when hi - lo < kMaxBitmapRange

  // vals[0..n) are the values still to combine.
  void search(const Rational* vals, int n) {
    if (n == 1) {
      const Rational& v = vals[0];
      if (!v.is_integer() || v.num() < lo || v.num() > hi) return;
      if (seen.empty()) {
        hits.push_back(v.num());
      } else {
        seen[static_cast<size_t>(v.num() - lo)] = true;
      }
      return;
    }
    std::array<Rational, kMaxSolverNumbers> next;
    for (int i = 0; i < n; ++i) {
      for (int j = i + 1; j < n; ++j) {
        // next = every value except i and j, then the combined value in the last slot.
        int m = 0;
        for (int k = 0; k < n; ++k) {
          if (k != i && k != j) next[m++] = vals[k];
        }
        for (const Candidate& c : candidates(vals[i], vals[j])) {
          if (!allowed(c.result, rule)) continue;
          next[m] = c.result.value;
          search(next.data(), m + 1);
        }
      }
    }
  }
};

// ---- solve_countdown: values, text and steps -----------------------------------------------------

struct Node {
  Rational value;
  std::string text;  // minimal-parentheses equation for this value
  int prec = kPrecAtom;
};

std::string operand_text(const Node& n, bool parens) { return parens ? "(" + n.text + ")" : n.text; }

// Text of `l op r` with only the parentheses that the parse (left-associative, * / before + -) needs.
std::string join_text(const Node& l, char op, const Node& r) {
  int prec = (op == '+' || op == '-') ? kPrecAdd : kPrecMul;
  bool left_parens = l.prec < prec;
  // NOTE: the right side needs parentheses also at equal precedence for - and /, since a-(b-c) and
  // a/(b/c) differ from a-b-c and a/b/c; for + and * it does not (a+(b-c) = a+b-c and, with exact
  // rationals, a*(b/c) = a*b/c).
  bool right_parens = r.prec < prec || (r.prec == prec && (op == '-' || op == '/'));
  return operand_text(l, left_parens) + op + operand_text(r, right_parens);
}

struct Solve {
  Rational target;
  StepRule rule;
  size_t max_solutions;
  std::vector<CountdownSolution> out;
  std::unordered_set<std::string> seen;
  std::vector<CountdownStep> steps;

  bool full() const { return out.size() >= max_solutions; }

  // NOTE: operands that are fractions or negative are parenthesised in the trace ("6/(1/4)=24",
  // "5*(-4)=-20") so each step reads unambiguously; results are written plain.
  static std::string trace_operand(const Rational& v) {
    return v.is_integer() && v.num() >= 0 ? v.to_string() : "(" + v.to_string() + ")";
  }

  void record(const Node& root) {
    if (!seen.insert(root.text).second) return;
    CountdownSolution s;
    s.equation = root.text;
    s.steps = steps;
    s.integer_steps = true;
    for (size_t k = 0; k < steps.size(); ++k) {
      const CountdownStep& st = steps[k];
      if (k) s.trace += ',';
      s.trace += trace_operand(st.a) + st.op + trace_operand(st.b) + "=" + st.result.to_string();
      if (!st.result.is_integer() || st.result.num() < 0) s.integer_steps = false;
    }
    out.push_back(std::move(s));
  }

  void search(std::vector<Node>& nodes) {
    if (nodes.size() == 1) {
      if (nodes[0].value == target) record(nodes[0]);
      return;
    }
    const size_t n = nodes.size();
    for (size_t i = 0; i < n && !full(); ++i) {
      for (size_t j = i + 1; j < n && !full(); ++j) {
        for (const Candidate& c : candidates(nodes[i].value, nodes[j].value)) {
          if (full()) return;
          if (!allowed(c.result, rule)) continue;
          // Last step: skip building text for values that miss the target.
          if (n == 2 && c.result.value != target) continue;
          const Node* l = c.left == 0 ? &nodes[i] : &nodes[j];
          const Node* r = c.left == 0 ? &nodes[j] : &nodes[i];
          if ((c.op == '+' || c.op == '*') && (l->value < r->value || (l->value == r->value && l->text < r->text))) {
            std::swap(l, r);  // larger operand first for the commutative operators
          }
          Node combined{c.result.value, join_text(*l, c.op, *r), (c.op == '+' || c.op == '-') ? kPrecAdd : kPrecMul};
          steps.push_back({l->value, r->value, c.op, c.result.value});

          std::vector<Node> next;
          next.reserve(n - 1);
          for (size_t k = 0; k < n; ++k) {
            if (k != i && k != j) next.push_back(nodes[k]);
          }
          next.push_back(std::move(combined));
          search(next);
          steps.pop_back();
        }
      }
    }
  }
};

}  // namespace

std::vector<CountdownSolution> solve_countdown(const std::vector<int64_t>& numbers, int64_t target,
                                               size_t max_solutions, StepRule rule) {
  check_numbers(numbers);
  auto t = Rational::make(target, 1);
  if (!t || max_solutions == 0) return {};
  Solve s{*t, rule, max_solutions, {}, {}, {}};
  std::vector<Node> nodes;
  for (int64_t v : numbers) nodes.push_back({Rational(v), std::to_string(v), kPrecAtom});
  s.search(nodes);
  return std::move(s.out);
}

std::vector<int64_t> reachable_targets(const std::vector<int64_t>& numbers, int64_t min_target,
                                       int64_t max_target, StepRule rule) {
  check_numbers(numbers);
  GRPO_CHECK(min_target <= max_target, "reachable_targets: min_target ", min_target, " > max_target ", max_target);
  std::array<Rational, kMaxSolverNumbers> vals;
  for (size_t k = 0; k < numbers.size(); ++k) vals[k] = Rational(numbers[k]);
  Reach r{min_target, max_target, rule, {}, {}};
  int64_t span = 0;
  bool small = !__builtin_sub_overflow(max_target, min_target, &span) && span < kMaxBitmapRange;
  if (small) r.seen.assign(static_cast<size_t>(span) + 1, false);
  r.search(vals.data(), static_cast<int>(numbers.size()));
  if (small) {
    for (size_t k = 0; k < r.seen.size(); ++k) {
      if (r.seen[k]) r.hits.push_back(min_target + static_cast<int64_t>(k));
    }
    return r.hits;
  }
  std::sort(r.hits.begin(), r.hits.end());
  r.hits.erase(std::unique(r.hits.begin(), r.hits.end()), r.hits.end());
  return r.hits;
}

}  // namespace grpo::rl::data
