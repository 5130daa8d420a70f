// The expression tree every math answer is parsed into (LaTeX or plain text), and the parser. One tree type for
// numbers, expressions with variables, and the structures answers come in: tuples, sets, intervals, matrices,
// equations, inequalities and plain text. Not a computer-algebra system: equivalence (equivalence.h) compares
// trees exactly on rationals and by evaluating them at random points, never by rewriting.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace grpo::rewards::math {

enum class Op {
  kNum,       // text: a decimal literal "12", "0.35625" (exact)
  kSym,       // text: a variable name "x", "\theta", "x_1"
  kPi, kE, kI, kInf,
  kAdd,       // args: terms
  kMul,       // args: factors
  kNeg,       // args[0]
  kInv,       // args[0]: 1 / args[0]
  kPow,       // args: base, exponent
  kFunc,      // text: "sin", "ln", "sqrt", "abs", "fact", "binom", ...; args
  kTuple,     // ordered: "(1, 2, 3)"; parenthesised = true for "(a, b)", which may also mean an open interval
  kSet,       // unordered: "\{1, 2\}" or a bare top-level list "1, 2"
  kInterval,  // args: lo, hi; lo_closed, hi_closed
  kUnion,     // args: intervals (or sets) joined by \cup
  kMatrix,    // args: rows*cols entries, row-major; rows, cols
  kRel,       // text: "=", "<", "<=", ">", ">=", "!="; args: lhs, rhs
  kText,      // text: words from \text{...} that are not a unit
};

struct Expr {
  Op op = Op::kNum;
  std::string text;
  std::vector<Expr> args;
  bool lo_closed = false, hi_closed = false, parenthesised = false;
  int rows = 0, cols = 0;
};

// Thrown for input the parser cannot read (a Score says "unparsable", never this exception's caller).
struct ParseError {
  std::string what;
};

struct ParseLimits {
  size_t max_chars = 2000;  // longer answers are not parsed
  int max_depth = 100;      // nesting of groups and operators
  size_t max_nodes = 5000;  // tree size
};

// Normalises (\dfrac, \left, units, degrees, percent, thousands separators, "$", trailing period, ...) and
// parses one answer. Throws ParseError.
Expr parse_answer(std::string_view latex, const ParseLimits& limits = {});

// The normalised text parse_answer reads (exposed for tests and for the text fallback).
std::string normalize_answer(std::string_view latex);

// A readable form of the tree, for details and tests: "(1/2)", "{1, 2}", "[0, 1)".
std::string to_string(const Expr& e);

}  // namespace grpo::rewards::math
