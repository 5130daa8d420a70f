// Checked int64 rational arithmetic (see rational.h). Addition goes through __int128 and reduces before
// narrowing; multiplication cross-reduces and uses __builtin_mul_overflow.
#include "rewards/rational.h"

#include <limits>
#include <utility>

#include "kernels/check.h"

namespace grpo::rewards {
namespace {

using i128 = __int128;

constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

// gcd of |a| and |b| on unsigned 128-bit values (no sign trouble); gcd(0, 0) == 0.
unsigned __int128 gcd_u128(unsigned __int128 a, unsigned __int128 b) {
  while (b != 0) {
    unsigned __int128 t = a % b;
    a = b;
    b = t;
  }
  return a;
}

unsigned __int128 abs_u128(i128 v) {
  return v < 0 ? static_cast<unsigned __int128>(-(v + 1)) + 1 : static_cast<unsigned __int128>(v);
}

// Binary gcd of |a| and |b| (shifts instead of divisions: several times faster than Euclid's modulo).
// Inputs are never INT64_MIN, so the absolute values fit.
int64_t gcd_i64(int64_t a, int64_t b) {
  uint64_t x = static_cast<uint64_t>(a < 0 ? -a : a);
  uint64_t y = static_cast<uint64_t>(b < 0 ? -b : b);
  if (x == 0) return static_cast<int64_t>(y);
  if (y == 0) return static_cast<int64_t>(x);
  int shift = __builtin_ctzll(x | y);
  x >>= __builtin_ctzll(x);
  do {
    y >>= __builtin_ctzll(y);
    if (x > y) std::swap(x, y);
    y -= x;
  } while (y != 0);
  return static_cast<int64_t>(x << shift);
}

bool fits_i64(i128 v) { return v >= -static_cast<i128>(kMax) && v <= static_cast<i128>(kMax); }

// Normalise num/den given in 128 bits (den > 0) and narrow to int64, or report overflow.
RationalResult narrow(i128 num, i128 den) {
  // NOTE: 128-bit division is slow, so the common case (both parts already fit) reduces in 64 bits.
  if (!fits_i64(num) || !fits_i64(den)) {
    unsigned __int128 g = gcd_u128(abs_u128(num), static_cast<unsigned __int128>(den));
    num /= static_cast<i128>(g);
    den /= static_cast<i128>(g);
    // The range is symmetric (INT64_MIN excluded) so negating a Rational can never overflow.
    if (!fits_i64(num) || !fits_i64(den)) return {Rational(), ArithStatus::overflow};
  }
  auto r = Rational::make(static_cast<int64_t>(num), static_cast<int64_t>(den));
  GRPO_CHECK(r.has_value(), "rational narrowing produced an invalid value; this is a bug");
  return {*r, ArithStatus::ok};
}

// Integer operands are the common case in Countdown search; they need no gcd.
RationalResult from_i64(bool overflowed, int64_t v) {
  if (overflowed || v == kMin) return {Rational(), ArithStatus::overflow};
  return {Rational(v), ArithStatus::ok};
}

}  // namespace

const char* arith_status_name(ArithStatus s) {
  switch (s) {
    case ArithStatus::ok: return "ok";
    case ArithStatus::overflow: return "overflow";
    case ArithStatus::division_by_zero: return "division by zero";
  }
  return "unknown";
}

Rational::Rational(int64_t n) : num_(n), den_(1) {
  GRPO_CHECK(n != kMin, "Rational(INT64_MIN) is not representable; use Rational::make to get a checked value");
}

std::optional<Rational> Rational::make(int64_t num, int64_t den) {
  if (den == 0 || num == kMin || den == kMin) return std::nullopt;
  if (den < 0) {
    num = -num;
    den = -den;
  }
  int64_t g = gcd_i64(num, den);
  Rational r;
  if (num == 0) {
    r.num_ = 0;
    r.den_ = 1;
  } else {
    r.num_ = num / g;
    r.den_ = den / g;
  }
  return r;
}

std::string Rational::to_string() const {
  if (den_ == 1) return std::to_string(num_);
  return std::to_string(num_) + "/" + std::to_string(den_);
}

bool operator<(const Rational& a, const Rational& b) {
  // Denominators are positive, so cross-multiplying preserves order; 128 bits cannot overflow.
  return static_cast<i128>(a.num_) * b.den_ < static_cast<i128>(b.num_) * a.den_;
}

RationalResult add(const Rational& a, const Rational& b) {
  if (a.is_integer() && b.is_integer()) {
    int64_t v = 0;
    bool overflowed = __builtin_add_overflow(a.num(), b.num(), &v);
    return from_i64(overflowed, v);
  }
  // |num| <= 2^63-1 and den <= 2^63-1, so each product is < 2^126 and the sum < 2^127: fits in i128.
  i128 num = static_cast<i128>(a.num()) * b.den() + static_cast<i128>(b.num()) * a.den();
  i128 den = static_cast<i128>(a.den()) * b.den();
  return narrow(num, den);
}

RationalResult sub(const Rational& a, const Rational& b) {
  if (a.is_integer() && b.is_integer()) {
    int64_t v = 0;
    bool overflowed = __builtin_sub_overflow(a.num(), b.num(), &v);
    return from_i64(overflowed, v);
  }
  i128 num = static_cast<i128>(a.num()) * b.den() - static_cast<i128>(b.num()) * a.den();
  i128 den = static_cast<i128>(a.den()) * b.den();
  return narrow(num, den);
}

RationalResult mul(const Rational& a, const Rational& b) {
  if (a.is_integer() && b.is_integer()) {
    int64_t v = 0;
    bool overflowed = __builtin_mul_overflow(a.num(), b.num(), &v);
    return from_i64(overflowed, v);
  }
  // Cross-reduce: with both inputs in lowest terms the product then is too (so no final gcd), and an
  // overflow means the exact result truly does not fit. Denominators are > 0, so neither gcd is 0.
  int64_t g1 = gcd_i64(a.num(), b.den());
  int64_t g2 = gcd_i64(b.num(), a.den());
  int64_t num = 0;
  int64_t den = 0;
  if (__builtin_mul_overflow(a.num() / g1, b.num() / g2, &num) ||
      __builtin_mul_overflow(a.den() / g2, b.den() / g1, &den) || num == kMin) {
    return {Rational(), ArithStatus::overflow};
  }
  return {Rational(num, den, Rational::Reduced{}), ArithStatus::ok};
}

RationalResult div(const Rational& a, const Rational& b) {
  if (b.is_zero()) return {Rational(), ArithStatus::division_by_zero};
  if (a.is_integer() && b.is_integer() && a.num() % b.num() == 0) {
    return {Rational(a.num() / b.num()), ArithStatus::ok};  // never INT64_MIN: |a.num()| <= kMax
  }
  // (a.num/a.den) / (b.num/b.den) = (a.num*b.den) / (a.den*b.num), cross-reduced as in mul.
  int64_t g1 = gcd_i64(a.num(), b.num());  // b.num != 0, so g1 > 0
  int64_t g2 = gcd_i64(a.den(), b.den());
  int64_t num = 0;
  int64_t den = 0;
  if (__builtin_mul_overflow(a.num() / g1, b.den() / g2, &num) ||
      __builtin_mul_overflow(a.den() / g2, b.num() / g1, &den) || num == kMin || den == kMin) {
    return {Rational(), ArithStatus::overflow};
  }
  if (den < 0) {
    num = -num;
    den = -den;
  }
  return {Rational(num, den, Rational::Reduced{}), ArithStatus::ok};
}

}  // namespace grpo::rewards
