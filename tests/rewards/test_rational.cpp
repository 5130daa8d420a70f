// Tests for rewards/rational: normalisation, exact results near the int64 limits, overflow and division
// by zero reported as statuses (never UB; run under GRPO_SANITIZE to check the latter).
#include <catch2/catch.hpp>

#include <cstdint>
#include <limits>

#include "kernels/check.h"
#include "rewards/rational.h"

using grpo::rewards::ArithStatus;
using grpo::rewards::Rational;

namespace {

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
constexpr int64_t kMin = std::numeric_limits<int64_t>::min();

Rational q(int64_t n, int64_t d) {
  auto r = Rational::make(n, d);
  REQUIRE(r.has_value());
  return *r;
}

}  // namespace

TEST_CASE("rational: make normalises sign and gcd", "[cpu]") {
  struct Case {
    int64_t n, d, want_n, want_d;
  };
  const Case cases[] = {
      {6, -4, -3, 2}, {-6, -4, 3, 2}, {0, -7, 0, 1}, {0, 5, 0, 1}, {14, 7, 2, 1},
      {kMax, kMax, 1, 1}, {-kMax, kMax, -1, 1}, {kMax, -1, -kMax, 1}, {12, 18, 2, 3},
  };
  for (const auto& c : cases) {
    INFO(c.n << "/" << c.d);
    Rational r = q(c.n, c.d);
    CHECK(r.num() == c.want_n);
    CHECK(r.den() == c.want_d);
  }
  CHECK(q(7, 2).to_string() == "7/2");
  CHECK(q(-7, 2).to_string() == "-7/2");
  CHECK(q(44, 2).to_string() == "22");
  CHECK(q(44, 2).is_integer());
  CHECK_FALSE(q(7, 2).is_integer());
  CHECK(Rational().is_zero());
}

TEST_CASE("rational: make rejects zero denominators and INT64_MIN", "[cpu]") {
  CHECK_FALSE(Rational::make(1, 0).has_value());
  CHECK_FALSE(Rational::make(0, 0).has_value());
  CHECK_FALSE(Rational::make(kMin, 1).has_value());
  CHECK_FALSE(Rational::make(1, kMin).has_value());
  CHECK_THROWS_AS(Rational(kMin), grpo::Error);
}

TEST_CASE("rational: arithmetic is exact", "[cpu]") {
  CHECK(add(q(1, 2), q(1, 3)).value == q(5, 6));
  CHECK(sub(q(1, 2), q(1, 3)).value == q(1, 6));
  CHECK(sub(q(1, 3), q(1, 2)).value == q(-1, 6));
  CHECK(mul(q(7, 2), Rational(4)).value == Rational(14));
  CHECK(div(Rational(7), Rational(2)).value == q(7, 2));
  CHECK(div(q(3, 4), q(-9, 8)).value == q(-2, 3));
  CHECK(add(q(1, 6), q(1, 3)).value == q(1, 2));  // reduced after adding
  CHECK(mul(Rational(0), q(5, 7)).value == Rational(0));
  CHECK(mul(Rational(0), q(5, 7)).value.den() == 1);
}

TEST_CASE("rational: comparison", "[cpu]") {
  CHECK(q(1, 3) < q(1, 2));
  CHECK(q(-1, 2) < q(-1, 3));
  CHECK_FALSE(q(2, 4) < q(1, 2));
  CHECK(q(kMax - 1, kMax) < Rational(1));
  CHECK(Rational(-kMax) < Rational(kMax));
  CHECK(q(2, 4) == q(1, 2));
  CHECK(q(2, 4) != q(1, 3));
}

TEST_CASE("rational: overflow is a status, not UB", "[cpu]") {
  CHECK(add(Rational(kMax), Rational(1)).status == ArithStatus::overflow);
  CHECK(sub(Rational(-kMax), Rational(1)).status == ArithStatus::overflow);  // would be INT64_MIN
  CHECK(sub(Rational(-kMax), Rational(2)).status == ArithStatus::overflow);
  CHECK(mul(Rational(int64_t{1} << 32), Rational(int64_t{1} << 31)).status == ArithStatus::overflow);
  CHECK(mul(Rational(-(int64_t{1} << 32)), Rational(int64_t{1} << 31)).status == ArithStatus::overflow);
  CHECK(mul(Rational(int64_t{3037000500}), Rational(int64_t{3037000500})).status == ArithStatus::overflow);
  CHECK(div(Rational(1), Rational(kMax)).ok());
  CHECK(div(q(1, kMax), Rational(2)).status == ArithStatus::overflow);  // denominator 2*kMax
  CHECK(add(q(1, kMax), q(1, kMax - 1)).status == ArithStatus::overflow);
  // Repeated squaring of 99 overflows after a few steps.
  Rational v(99);
  int steps = 0;
  for (; steps < 20; ++steps) {
    auto r = mul(v, Rational(99));
    if (!r.ok()) break;
    v = r.value;
  }
  CHECK(steps == 8);  // 99^9 fits in int64, 99^10 does not
}

TEST_CASE("rational: no spurious overflow when the exact result fits", "[cpu]") {
  // kMax/3 * 3/kMax... : cross-reduction keeps the products small.
  const int64_t big = kMax / 7 * 7;  // divisible by 7
  CHECK(mul(q(big, 3), q(3, big)).value == Rational(1));
  CHECK(div(Rational(big), Rational(7)).value == Rational(big / 7));
  // Sum of two large fractions whose exact result is small: formed in 128 bits, then reduced.
  CHECK(add(q(kMax - 1, kMax), q(1, kMax)).value == Rational(1));
  CHECK(sub(Rational(kMax), Rational(kMax)).value == Rational(0));
  CHECK(add(Rational(kMax), Rational(-kMax)).value == Rational(0));
  CHECK(add(Rational(kMax - 1), Rational(1)).value == Rational(kMax));
}

TEST_CASE("rational: division by zero is a status", "[cpu]") {
  CHECK(div(Rational(5), Rational(0)).status == ArithStatus::division_by_zero);
  CHECK(div(Rational(0), Rational(0)).status == ArithStatus::division_by_zero);
  CHECK(div(q(1, 2), sub(Rational(3), Rational(3)).value).status == ArithStatus::division_by_zero);
  CHECK(std::string(arith_status_name(ArithStatus::division_by_zero)) == "division by zero");
  CHECK(std::string(arith_status_name(ArithStatus::overflow)) == "overflow");
}
