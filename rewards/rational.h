// Exact rational numbers over int64 for the Countdown verifier and solver: always normalised
// (gcd-reduced, denominator > 0), every operation overflow-checked and reported as a status, never UB.
// Not a bignum: values that do not fit in int64/int64 are an error, not promoted (GMP is for rewards/math).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace grpo::rewards {

// Outcome of one arithmetic operation.
enum class ArithStatus { ok, overflow, division_by_zero };

// "ok", "overflow", "division by zero" (used verbatim in Score::detail).
const char* arith_status_name(ArithStatus s);

struct RationalResult;
class Rational;
RationalResult mul(const Rational& a, const Rational& b);
RationalResult div(const Rational& a, const Rational& b);

class Rational {
 public:
  Rational() = default;  // 0/1
  // An integer. REQUIRES: n != INT64_MIN (use make() for unchecked input).
  explicit Rational(int64_t n);

  // num/den normalised; nullopt when den == 0 or when either part cannot be represented after
  // reduction (INT64_MIN is excluded so that negation can never overflow).
  static std::optional<Rational> make(int64_t num, int64_t den);

  int64_t num() const { return num_; }
  int64_t den() const { return den_; }
  bool is_zero() const { return num_ == 0; }
  bool is_integer() const { return den_ == 1; }

  // "22", "-3", "7/2", "-7/2".
  std::string to_string() const;

  friend bool operator==(const Rational& a, const Rational& b) {
    return a.num_ == b.num_ && a.den_ == b.den_;  // unique because always normalised
  }
  friend bool operator!=(const Rational& a, const Rational& b) { return !(a == b); }
  friend bool operator<(const Rational& a, const Rational& b);

 private:
  struct Reduced {};  // tag: the parts are already normalised, skip the gcd
  Rational(int64_t num, int64_t den, Reduced) : num_(num), den_(den) {}
  friend RationalResult mul(const Rational& a, const Rational& b);
  friend RationalResult div(const Rational& a, const Rational& b);

  int64_t num_ = 0;  // never INT64_MIN
  int64_t den_ = 1;  // always > 0, gcd(num_, den_) == 1
};

// Result of a checked operation: `value` is meaningful only when status == ok.
struct RationalResult {
  Rational value;
  ArithStatus status = ArithStatus::ok;
  bool ok() const { return status == ArithStatus::ok; }
};

// NOTE: each operation reports overflow only when the exact, reduced result does not fit in int64;
// intermediate products are formed in __int128 or cross-reduced first, so no spurious overflow.
RationalResult add(const Rational& a, const Rational& b);
RationalResult sub(const Rational& a, const Rational& b);
RationalResult mul(const Rational& a, const Rational& b);
RationalResult div(const Rational& a, const Rational& b);  // division_by_zero when b == 0

}  // namespace grpo::rewards
