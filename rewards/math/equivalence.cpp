// Exact rationals (GMP), high-precision complex evaluation (MPFR/MPC) and the structural rules. See equivalence.h.
#include "rewards/math/equivalence.h"

#include <gmpxx.h>
#include <mpc.h>
#include <mpfr.h>

#include <algorithm>
#include <chrono>
#include <cctype>
#include <map>
#include <random>
#include <set>

namespace grpo::rewards::math {
namespace {

using Clock = std::chrono::steady_clock;
struct Timeout {};

// ---------------------------------------------------------------- exact rationals

bool decimal_to_rational(const std::string& text, mpq_class& out) {
  const size_t dot = text.find('.');
  std::string digits = text;
  size_t scale = 0;
  if (dot != std::string::npos) {
    digits = text.substr(0, dot) + text.substr(dot + 1);
    scale = text.size() - dot - 1;
  }
  if (digits.empty()) return false;
  mpz_class num(digits, 10), den;
  mpz_ui_pow_ui(den.get_mpz_t(), 10, scale);
  out = mpq_class(num, den);
  out.canonicalize();
  return true;
}

// The value of a tree made only of numbers, + - * / and small integer powers; false otherwise.
bool exact_value(const Expr& e, mpq_class& out, int depth = 0) {
  if (depth > 200) return false;
  switch (e.op) {
    case Op::kNum: return decimal_to_rational(e.text, out);
    case Op::kNeg:
      if (!exact_value(e.args[0], out, depth + 1)) return false;
      out = -out;
      return true;
    case Op::kInv:
      if (!exact_value(e.args[0], out, depth + 1) || out == 0) return false;
      out = 1 / out;
      return true;
    case Op::kAdd:
    case Op::kMul: {
      mpq_class acc = e.op == Op::kAdd ? 0 : 1, x;
      for (const Expr& a : e.args) {
        if (!exact_value(a, x, depth + 1)) return false;
        if (e.op == Op::kAdd) acc += x;
        else acc *= x;
      }
      out = acc;
      return true;
    }
    case Op::kPow: {
      mpq_class base, ex;
      if (!exact_value(e.args[0], base, depth + 1) || !exact_value(e.args[1], ex, depth + 1)) return false;
      if (ex.get_den() != 1 || !ex.get_num().fits_slong_p()) return false;
      const long n = ex.get_num().get_si();
      const size_t bits = mpz_sizeinbase(base.get_num_mpz_t(), 2) + mpz_sizeinbase(base.get_den_mpz_t(), 2);
      if (std::labs(n) > 100000 || bits * static_cast<size_t>(std::labs(n)) > 2000000) return false;
      if (base == 0 && n < 0) return false;
      mpz_class num, den;
      mpz_pow_ui(num.get_mpz_t(), base.get_num_mpz_t(), static_cast<unsigned long>(std::labs(n)));
      mpz_pow_ui(den.get_mpz_t(), base.get_den_mpz_t(), static_cast<unsigned long>(std::labs(n)));
      out = n >= 0 ? mpq_class(num, den) : mpq_class(den, num);
      out.canonicalize();
      return true;
    }
    default: return false;
  }
}

// ---------------------------------------------------------------- complex evaluation

class Complex {
 public:
  explicit Complex(mpfr_prec_t prec) { mpc_init2(v, prec); }
  ~Complex() { mpc_clear(v); }
  Complex(const Complex&) = delete;
  Complex& operator=(const Complex&) = delete;
  mpc_t v;
};

class Evaluator {
 public:
  Evaluator(mpfr_prec_t prec, Clock::time_point deadline, const std::map<std::string, std::pair<long, long>>& point)
      : prec_(prec), deadline_(deadline), point_(point) {}

  // false: undefined here (division by zero, a pole, an infinity, an unknown function).
  bool eval(const Expr& e, mpc_t out) {
    if (++steps_ % 64 == 0 && Clock::now() > deadline_) throw Timeout{};
    switch (e.op) {
      case Op::kNum: {
        mpq_class q;
        if (!decimal_to_rational(e.text, q)) return false;
        mpc_set_q(out, q.get_mpq_t(), MPC_RNDNN);
        return true;
      }
      case Op::kSym: {
        auto it = point_.find(e.text);
        if (it == point_.end()) return false;
        mpq_class q(it->second.first, it->second.second);
        q.canonicalize();
        mpc_set_q(out, q.get_mpq_t(), MPC_RNDNN);
        return true;
      }
      case Op::kPi:
        mpc_set_ui(out, 0, MPC_RNDNN);
        mpfr_const_pi(mpc_realref(out), MPFR_RNDN);
        return true;
      case Op::kE:
        mpc_set_ui(out, 1, MPC_RNDNN);
        mpc_exp(out, out, MPC_RNDNN);
        return true;
      case Op::kI:
        mpc_set_ui_ui(out, 0, 1, MPC_RNDNN);
        return true;
      case Op::kNeg:
        if (!eval(e.args[0], out)) return false;
        mpc_neg(out, out, MPC_RNDNN);
        return true;
      case Op::kInv:
        if (!eval(e.args[0], out) || mpc_cmp_si(out, 0) == 0) return false;
        mpc_ui_div(out, 1, out, MPC_RNDNN);
        return finite(out);
      case Op::kAdd:
      case Op::kMul: {
        Complex x(prec_);
        mpc_set_ui(out, e.op == Op::kAdd ? 0 : 1, MPC_RNDNN);
        for (const Expr& a : e.args) {
          if (!eval(a, x.v)) return false;
          if (e.op == Op::kAdd) mpc_add(out, out, x.v, MPC_RNDNN);
          else mpc_mul(out, out, x.v, MPC_RNDNN);
        }
        return finite(out);
      }
      case Op::kPow: {
        Complex ex(prec_);
        if (!eval(e.args[0], out) || !eval(e.args[1], ex.v)) return false;
        mpq_class q;
        if (exact_value(e.args[1], q) && q.get_den() == 1 && q.get_num().fits_slong_p() &&
            std::labs(q.get_num().get_si()) < (1L << 20)) {
          if (mpc_cmp_si(out, 0) == 0 && q < 0) return false;
          mpc_pow_si(out, out, q.get_num().get_si(), MPC_RNDNN);
        } else {
          if (mpc_cmp_si(out, 0) == 0) return mpfr_sgn(mpc_realref(ex.v)) > 0 ? (mpc_set_ui(out, 0, MPC_RNDNN), true) : false;
          mpc_pow(out, out, ex.v, MPC_RNDNN);
        }
        return finite(out);
      }
      case Op::kFunc: return func(e, out);
      default: return false;  // infinity, structures, text: compared structurally, never as numbers
    }
  }

 private:
  static bool finite(mpc_t x) { return mpfr_number_p(mpc_realref(x)) && mpfr_number_p(mpc_imagref(x)); }
  bool real_value(mpc_t x) const { return mpfr_zero_p(mpc_imagref(x)) != 0; }

  bool func(const Expr& e, mpc_t out) {
    const std::string& f = e.text;
    if (f == "binom") {
      Complex k(prec_);
      mpq_class kq;
      if (!eval(e.args[0], out) || !exact_value(e.args[1], kq) || kq.get_den() != 1 || kq < 0 || kq > 10000) return false;
      const long kk = kq.get_num().get_si();
      Complex acc(prec_), term(prec_);
      mpc_set_ui(acc.v, 1, MPC_RNDNN);
      for (long j = 0; j < kk; ++j) {  // n (n-1) ... (n-k+1) / k!
        mpc_sub_ui(term.v, out, static_cast<unsigned long>(j), MPC_RNDNN);
        mpc_mul(acc.v, acc.v, term.v, MPC_RNDNN);
        mpc_div_ui(acc.v, acc.v, static_cast<unsigned long>(j + 1), MPC_RNDNN);
      }
      mpc_set(out, acc.v, MPC_RNDNN);
      return finite(out);
    }
    if (!eval(e.args[0], out)) return false;
    if (f == "sqrt") mpc_sqrt(out, out, MPC_RNDNN);
    else if (f == "abs") {
      mpc_abs(mpc_realref(out), out, MPFR_RNDN);
      mpfr_set_ui(mpc_imagref(out), 0, MPFR_RNDN);
    } else if (f == "sin") mpc_sin(out, out, MPC_RNDNN);
    else if (f == "cos") mpc_cos(out, out, MPC_RNDNN);
    else if (f == "tan") mpc_tan(out, out, MPC_RNDNN);
    else if (f == "sec" || f == "csc" || f == "cot") {
      if (f == "sec") mpc_cos(out, out, MPC_RNDNN);
      else if (f == "csc") mpc_sin(out, out, MPC_RNDNN);
      else mpc_tan(out, out, MPC_RNDNN);
      if (mpc_cmp_si(out, 0) == 0) return false;
      mpc_ui_div(out, 1, out, MPC_RNDNN);
    } else if (f == "arcsin") mpc_asin(out, out, MPC_RNDNN);
    else if (f == "arccos") mpc_acos(out, out, MPC_RNDNN);
    else if (f == "arctan") mpc_atan(out, out, MPC_RNDNN);
    else if (f == "sinh") mpc_sinh(out, out, MPC_RNDNN);
    else if (f == "cosh") mpc_cosh(out, out, MPC_RNDNN);
    else if (f == "tanh") mpc_tanh(out, out, MPC_RNDNN);
    else if (f == "ln" || f == "log") {
      if (mpc_cmp_si(out, 0) == 0) return false;
      mpc_log(out, out, MPC_RNDNN);
    } else if (f == "exp") mpc_exp(out, out, MPC_RNDNN);
    else if (f == "fact") {
      if (!real_value(out)) return false;
      mpfr_t& x = mpc_realref(out);
      if (mpfr_integer_p(x) && mpfr_sgn(x) >= 0 && mpfr_cmp_ui(x, 100000) <= 0) {
        mpfr_fac_ui(x, mpfr_get_ui(x, MPFR_RNDN), MPFR_RNDN);
      } else {
        if (mpfr_integer_p(x) && mpfr_sgn(x) < 0) return false;
        mpfr_add_ui(x, x, 1, MPFR_RNDN);
        mpfr_gamma(x, x, MPFR_RNDN);
      }
    } else if (f == "floor" || f == "ceil") {
      if (!real_value(out)) return false;
      if (f == "floor") mpfr_floor(mpc_realref(out), mpc_realref(out));
      else mpfr_ceil(mpc_realref(out), mpc_realref(out));
    } else {
      return false;
    }
    return finite(out);
  }

  mpfr_prec_t prec_;
  Clock::time_point deadline_;
  const std::map<std::string, std::pair<long, long>>& point_;
  uint64_t steps_ = 0;
};

void collect_symbols(const Expr& e, std::set<std::string>& out) {
  if (e.op == Op::kSym) out.insert(e.text);
  for (const Expr& a : e.args) collect_symbols(a, out);
}

int infinity_sign(const Expr& e) {
  if (e.op == Op::kInf) return 1;
  if (e.op == Op::kNeg && e.args[0].op == Op::kInf) return -1;
  if (e.op == Op::kAdd && e.args.size() == 1) return infinity_sign(e.args[0]);
  return 0;
}

std::string lower_letters(const Expr& e) {
  std::string s;
  if (e.op == Op::kText) s = e.text;
  else if (e.op == Op::kSym) s = e.text;
  else if (e.op == Op::kE) s = "e";
  else if (e.op == Op::kI) s = "i";
  else if (e.op == Op::kMul)
    for (const Expr& a : e.args) {
      if (a.op != Op::kSym && a.op != Op::kE && a.op != Op::kI) return "";
      s += lower_letters(a);
    }
  else return "";
  std::string out;
  for (unsigned char c : s)
    if (std::isalnum(c)) out += static_cast<char>(std::tolower(c));
  return out;
}

class Comparator {
 public:
  Comparator(const EquivalenceConfig& cfg, Clock::time_point deadline) : cfg_(cfg), deadline_(deadline) {}

  bool equal(const Expr& g, const Expr& p) {
    if (Clock::now() > deadline_) throw Timeout{};
    // Text: case-insensitive letters ("\text{Evelyn}" = "Evelyn", "(C)" = "C").
    if (g.op == Op::kText || p.op == Op::kText) {
      const std::string a = lower_letters(g), b = lower_letters(p);
      return !a.empty() && a == b;
    }
    // "x = 2" against "2": the right-hand side of an equation whose left side is a variable.
    // "x \in [1, 2]" likewise.
    auto names_value = [](const Expr& e) {
      return e.op == Op::kRel && (e.text == "=" || e.text == "in") && e.args[0].op == Op::kSym;
    };
    if (names_value(g) && p.op != Op::kRel) return equal(g.args[1], p);
    if (names_value(p) && g.op != Op::kRel) return equal(g, p.args[1]);
    if (g.op == Op::kRel && p.op == Op::kRel) return relation(g, p);
    if (g.op == Op::kRel || p.op == Op::kRel) return false;
    const int gi = infinity_sign(g), pi = infinity_sign(p);
    if (gi || pi) return gi == pi;
    if (g.op == Op::kSet || p.op == Op::kSet) {
      if (g.op != p.op) return false;
      return same_elements(g.args, p.args);
    }
    if (g.op == Op::kUnion || p.op == Op::kUnion) {
      if (g.op != p.op) return false;
      return same_elements(g.args, p.args);
    }
    if (g.op == Op::kInterval || p.op == Op::kInterval) return interval(g, p);
    if (g.op == Op::kTuple || p.op == Op::kTuple) {
      if (g.op != p.op || g.args.size() != p.args.size()) return false;
      for (size_t i = 0; i < g.args.size(); ++i)
        if (!equal(g.args[i], p.args[i])) return false;
      return true;
    }
    if (g.op == Op::kMatrix || p.op == Op::kMatrix) {
      if (g.op != p.op || g.rows != p.rows || g.cols != p.cols) return false;
      for (size_t i = 0; i < g.args.size(); ++i)
        if (!equal(g.args[i], p.args[i])) return false;
      return true;
    }
    return scalar(g, p);
  }

 private:
  bool relation(const Expr& g, const Expr& p) {
    auto flip = [](const std::string& op) {
      if (op == "<") return std::string(">");
      if (op == ">") return std::string("<");
      if (op == "<=") return std::string(">=");
      if (op == ">=") return std::string("<=");
      return op;
    };
    if (g.text == p.text && equal(g.args[0], p.args[0]) && equal(g.args[1], p.args[1])) return true;
    if (flip(g.text) == p.text && equal(g.args[0], p.args[1]) && equal(g.args[1], p.args[0])) return true;
    return false;
  }

  bool interval(const Expr& g, const Expr& p) {
    auto ends = [](const Expr& e, bool& lo, bool& hi) {
      if (e.op == Op::kInterval) {
        lo = e.lo_closed;
        hi = e.hi_closed;
        return true;
      }
      if (e.op == Op::kTuple && e.parenthesised && e.args.size() == 2) {  // "(a, b)": an open interval too
        lo = hi = false;
        return true;
      }
      return false;
    };
    bool glo, ghi, plo, phi;
    if (!ends(g, glo, ghi) || !ends(p, plo, phi)) return false;
    return glo == plo && ghi == phi && equal(g.args[0], p.args[0]) && equal(g.args[1], p.args[1]);
  }

  // Set semantics: every element of one equals some element of the other, both ways.
  bool same_elements(const std::vector<Expr>& a, const std::vector<Expr>& b) {
    auto covered = [&](const std::vector<Expr>& x, const std::vector<Expr>& y) {
      for (const Expr& e : x) {
        bool found = false;
        for (const Expr& f : y)
          if ((found = equal(e, f))) break;
        if (!found) return false;
      }
      return true;
    };
    return covered(a, b) && covered(b, a);
  }

  bool scalar(const Expr& g, const Expr& p) {
    mpq_class qg, qp;
    if (cfg_.relative_tolerance <= 0 && exact_value(g, qg) && exact_value(p, qp)) return qg == qp;
    std::set<std::string> symbols;
    collect_symbols(g, symbols);
    collect_symbols(p, symbols);
    // NOTE: the points are drawn from a generator seeded by the variable names, so a verdict never depends on
    // the order checks run in or on earlier checks.
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    for (const std::string& name : symbols)
      for (unsigned char c : name) seed = (seed ^ c) * 0x100000001b3ull;
    std::mt19937_64 rng(seed);
    const int n_points = symbols.empty() ? 1 : cfg_.n_points;
    int defined = 0;
    const mpfr_prec_t prec = cfg_.precision_bits;
    for (int k = 0; k < n_points * 3 && defined < n_points; ++k) {
      std::map<std::string, std::pair<long, long>> point;
      for (const std::string& s : symbols) {
        long num = static_cast<long>(rng() % 2000) - 1000;
        if (num == 0) num = 7;
        point[s] = {num, static_cast<long>(rng() % 97) + 3};
      }
      Complex a(prec), b(prec);
      Evaluator ev(prec, deadline_, point);
      const bool da = ev.eval(g, a.v), db = ev.eval(p, b.v);
      if (!da && !db) continue;
      if (da != db) return false;
      ++defined;
      if (!close(a.v, b.v)) return false;
    }
    return defined > 0;
  }

  bool close(mpc_t a, mpc_t b) const {
    const mpfr_prec_t prec = cfg_.precision_bits;
    mpfr_t diff, na, nb, scale;
    mpfr_inits2(prec, diff, na, nb, scale, static_cast<mpfr_ptr>(nullptr));
    Complex d(prec);
    mpc_sub(d.v, a, b, MPC_RNDNN);
    mpc_abs(diff, d.v, MPFR_RNDN);
    mpc_abs(na, a, MPFR_RNDN);
    mpc_abs(nb, b, MPFR_RNDN);
    mpfr_max(scale, na, nb, MPFR_RNDN);
    if (mpfr_cmp_ui(scale, 1) < 0) mpfr_set_ui(scale, 1, MPFR_RNDN);
    if (cfg_.relative_tolerance > 0) mpfr_mul_d(scale, scale, cfg_.relative_tolerance, MPFR_RNDN);
    else mpfr_mul_2si(scale, scale, -(prec - 40), MPFR_RNDN);
    const bool ok = mpfr_cmp(diff, scale) <= 0;
    mpfr_clears(diff, na, nb, scale, static_cast<mpfr_ptr>(nullptr));
    return ok;
  }

  const EquivalenceConfig& cfg_;
  Clock::time_point deadline_;
};

}  // namespace

EquivalenceResult equivalent(const Expr& gold, const Expr& pred, const EquivalenceConfig& cfg) {
  EquivalenceResult r;
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                           std::chrono::duration<double>(cfg.timeout_seconds));
  try {
    Comparator c(cfg, deadline);
    r.equal = c.equal(gold, pred);
    if (!r.equal) r.detail = "expected " + to_string(gold) + ", got " + to_string(pred);
  } catch (const Timeout&) {
    r.timed_out = true;
    r.detail = "the comparison ran past " + std::to_string(cfg.timeout_seconds) + " s";
  }
  return r;
}

std::string canonical_answer(const Expr& e) {
  mpq_class q;
  if (exact_value(e, q)) {
    q.canonicalize();
    return q.get_str();
  }
  return to_string(e);
}

}  // namespace grpo::rewards::math
