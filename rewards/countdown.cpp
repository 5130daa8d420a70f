// Countdown verifier: answer extraction, a depth-bounded recursive-descent parser over exact rationals,
// and the TinyZero scoring rules (see countdown.h for the verdict table).
#include "rewards/countdown.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <map>

#include "kernels/check.h"

namespace grpo::rewards {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

// "'a'" for printable ASCII, "byte 0xE2" otherwise (non-ASCII, NUL, control characters).
std::string describe_char(char c) {
  auto u = static_cast<unsigned char>(c);
  if (u >= 0x20 && u < 0x7f) return std::string("'") + c + "'";
  char buf[16];
  std::snprintf(buf, sizeof(buf), "byte 0x%02X", u);
  return buf;
}

// Recursive descent: expr := term (('+'|'-') term)*, term := factor (('*'|'/') factor)*,
// factor := literal | '(' expr ')'. Recursion only happens at '(' and is bounded by max_depth.
class Parser {
 public:
  Parser(std::string_view s, int max_depth) : s_(s), max_depth_(max_depth) {}

  ParsedExpression run() {
    ParsedExpression out;
    skip_space();
    if (pos_ == s_.size()) return fail(std::move(out), "empty expression");
    Rational v;
    if (!parse_expr(&v)) return fail(std::move(out), error_);
    skip_space();
    if (pos_ != s_.size()) {
      return fail(std::move(out), "unexpected " + describe_char(s_[pos_]) + " at position " + std::to_string(pos_));
    }
    out.well_formed = true;
    out.literals = std::move(literals_);
    out.arith = arith_;
    if (arith_ != ArithStatus::ok) {
      out.error = arith_status_name(arith_);
      return out;
    }
    out.ok = true;
    out.value = v;
    return out;
  }

 private:
  ParsedExpression fail(ParsedExpression out, std::string msg) {
    out.error = std::move(msg);
    return out;
  }

  void skip_space() {
    while (pos_ < s_.size() && is_space(s_[pos_])) ++pos_;
  }

  bool set_error(std::string msg) {
    error_ = std::move(msg);
    return false;
  }

  // Applies op once arithmetic is still healthy; after the first failure values are ignored.
  void apply(char op, Rational* acc, const Rational& rhs) {
    if (arith_ != ArithStatus::ok) return;
    RationalResult r;
    switch (op) {
      case '+': r = add(*acc, rhs); break;
      case '-': r = sub(*acc, rhs); break;
      case '*': r = mul(*acc, rhs); break;
      default: r = div(*acc, rhs); break;
    }
    if (!r.ok()) {
      arith_ = r.status;
      return;
    }
    *acc = r.value;
  }

  bool parse_expr(Rational* out) {
    if (!parse_term(out)) return false;
    for (;;) {
      skip_space();
      if (pos_ >= s_.size() || (s_[pos_] != '+' && s_[pos_] != '-')) return true;
      char op = s_[pos_++];
      Rational rhs;
      if (!parse_term(&rhs)) return false;
      apply(op, out, rhs);
    }
  }

  bool parse_term(Rational* out) {
    if (!parse_factor(out)) return false;
    for (;;) {
      skip_space();
      if (pos_ >= s_.size() || (s_[pos_] != '*' && s_[pos_] != '/')) return true;
      char op = s_[pos_++];
      Rational rhs;
      if (!parse_factor(&rhs)) return false;
      apply(op, out, rhs);
    }
  }

  bool parse_factor(Rational* out) {
    skip_space();
    if (pos_ >= s_.size()) return set_error("expression ends where a number or '(' was expected");
    char c = s_[pos_];
    if (c == '(') {
      if (depth_ >= max_depth_) return set_error("parentheses nested deeper than " + std::to_string(max_depth_));
      ++depth_;
      ++pos_;
      if (!parse_expr(out)) return false;
      skip_space();
      if (pos_ >= s_.size() || s_[pos_] != ')') {
        return set_error(pos_ >= s_.size() ? std::string("unclosed '('")
                                           : "expected ')' but found " + describe_char(s_[pos_]) +
                                                 " at position " + std::to_string(pos_));
      }
      ++pos_;
      --depth_;
      return true;
    }
    if (!is_digit(c)) {
      if (c == '-') return set_error("unary minus at position " + std::to_string(pos_) + " is not allowed");
      return set_error("unexpected " + describe_char(c) + " at position " + std::to_string(pos_) +
                       " where a number or '(' was expected");
    }
    size_t start = pos_;
    int64_t v = 0;
    while (pos_ < s_.size() && is_digit(s_[pos_])) {
      if (pos_ - start >= static_cast<size_t>(kMaxLiteralDigits)) {
        return set_error("number at position " + std::to_string(start) + " has more than " +
                         std::to_string(kMaxLiteralDigits) + " digits");
      }
      v = v * 10 + (s_[pos_] - '0');  // < 10^18 by the digit bound: cannot overflow
      ++pos_;
    }
    literals_.push_back(v);
    *out = Rational(v);
    return true;
  }

  std::string_view s_;
  int max_depth_;
  size_t pos_ = 0;
  int depth_ = 0;
  std::string error_;
  std::vector<int64_t> literals_;
  ArithStatus arith_ = ArithStatus::ok;
};

// Words for small counts in details: "once", "twice", "3 times".
std::string times(int n) {
  if (n == 1) return "once";
  if (n == 2) return "twice";
  return std::to_string(n) + " times";
}

// First difference between the literals used and the numbers given, or "" when they match.
std::string compare_numbers(const std::vector<int64_t>& used, const std::vector<int64_t>& given) {
  std::map<int64_t, std::pair<int, int>> counts;  // value -> (used, given), sorted by value
  for (int64_t v : used) counts[v].first++;
  for (int64_t v : given) counts[v].second++;
  for (const auto& [v, c] : counts) {
    auto [u, g] = c;
    if (u == g) continue;
    if (g == 0) return "uses " + std::to_string(v) + ", which is not among the given numbers";
    if (u == 0) return "does not use " + std::to_string(v);
    return "uses " + std::to_string(v) + " " + times(u) + ", given " + times(g);
  }
  return "";
}

Score make_score(double value, Verdict verdict, bool format, bool correct, std::string detail) {
  Score s;
  s.value = value;
  s.verdict = verdict;
  s.components = {{"correct", correct ? 1.0 : 0.0}, {"format", format ? 1.0 : 0.0}};
  s.detail = std::move(detail);
  return s;
}

// Strict non-negative decimal integer of 1..18 digits, surrounding spaces allowed.
std::optional<int64_t> parse_meta_int(std::string_view s, bool allow_negative) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  bool negative = false;
  if (allow_negative && !s.empty() && s.front() == '-') {
    negative = true;
    s.remove_prefix(1);
  }
  if (s.empty() || s.size() > static_cast<size_t>(kMaxLiteralDigits)) return std::nullopt;
  int64_t v = 0;
  for (char c : s) {
    if (!is_digit(c)) return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return negative ? -v : v;
}

}  // namespace

ParsedExpression parse_arithmetic(std::string_view expr, int max_depth) {
  GRPO_CHECK(max_depth >= 0 && max_depth <= kMaxParseDepth, "parse_arithmetic: max_depth ", max_depth,
             " is outside [0, ", kMaxParseDepth, "]; lower CountdownConfig::max_depth");
  return Parser(expr, max_depth).run();
}

std::optional<std::string_view> extract_last_answer(std::string_view completion) {
  constexpr std::string_view kOpen = "<answer>";
  constexpr std::string_view kClose = "</answer>";
  std::optional<std::string_view> last;
  size_t pos = 0;
  // NOTE: every find starts past the previous match, so the scan is linear in completion.size().
  for (;;) {
    size_t open = completion.find(kOpen, pos);
    if (open == std::string_view::npos) break;
    size_t content = open + kOpen.size();
    size_t close = completion.find(kClose, content);
    if (close == std::string_view::npos) break;
    last = completion.substr(content, close - content);
    pos = close + kClose.size();
  }
  return last;
}

// The Score of an answer that parsed: numbers used, arithmetic, value against the target.
static Score score_parsed(const ParsedExpression& e, const CountdownProblem& p, const CountdownConfig& cfg) {
  std::string numbers_wrong = compare_numbers(e.literals, p.numbers);
  if (!numbers_wrong.empty()) return make_score(cfg.format_reward, Verdict::wrong, true, false, numbers_wrong);
  if (!e.ok) return make_score(cfg.format_reward, Verdict::wrong, true, false, e.error);

  auto target = Rational::make(p.target, 1);
  if (!target || e.value != *target) {
    return make_score(cfg.format_reward, Verdict::wrong, true, false,
                      "= " + e.value.to_string() + ", target " + std::to_string(p.target));
  }
  return make_score(cfg.correct_reward, Verdict::ok, true, true, "= " + std::to_string(p.target));
}

Score score_countdown(std::string_view completion, const CountdownProblem& p, const CountdownConfig& cfg) {
  auto answer = extract_last_answer(completion);
  if (!answer) return make_score(0.0, Verdict::unparsable, false, false, "no <answer>...</answer> found");
  if (answer->size() > cfg.max_answer_chars) {
    return make_score(0.0, Verdict::unparsable, false, false,
                      "answer is " + std::to_string(answer->size()) + " chars, longer than the " +
                          std::to_string(cfg.max_answer_chars) + " allowed");
  }
  ParsedExpression e = parse_arithmetic(*answer, cfg.max_depth);
  if (!e.well_formed) return make_score(0.0, Verdict::unparsable, false, false, "answer does not parse: " + e.error);
  std::string equation;  // the answer without spaces: what maj@k votes on
  for (char c : *answer) {
    if (!std::isspace(static_cast<unsigned char>(c))) equation += c;
  }
  Score s = score_parsed(e, p, cfg);
  s.answer = std::move(equation);
  return s;
}

std::optional<CountdownProblem> parse_countdown_meta(const Meta& meta, std::string* error) {
  auto bad = [&](std::string msg) -> std::optional<CountdownProblem> {
    if (error) *error = std::move(msg) + " (expected meta like numbers=\"3,15,7\", target=\"22\")";
    return std::nullopt;
  };
  auto n_it = meta.find("numbers");
  auto t_it = meta.find("target");
  if (n_it == meta.end()) return bad("countdown meta has no \"numbers\"");
  if (t_it == meta.end()) return bad("countdown meta has no \"target\"");

  CountdownProblem p;
  std::string_view rest = n_it->second;
  for (;;) {
    size_t comma = rest.find(',');
    auto v = parse_meta_int(rest.substr(0, comma), /*allow_negative=*/false);
    if (!v) return bad("countdown meta numbers=\"" + n_it->second + "\" is not a list of non-negative integers");
    p.numbers.push_back(*v);
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  auto t = parse_meta_int(t_it->second, /*allow_negative=*/true);
  if (!t) return bad("countdown meta target=\"" + t_it->second + "\" is not an integer");
  p.target = *t;
  return p;
}

Score score_countdown_meta(std::string_view completion, const Meta& meta, const CountdownConfig& cfg) {
  std::string error;
  auto p = parse_countdown_meta(meta, &error);
  if (!p) return make_score(0.0, Verdict::invalid_input, false, false, error);
  return score_countdown(completion, *p, cfg);
}

std::string format_countdown_numbers(const std::vector<int64_t>& numbers) {
  std::string out;
  for (size_t i = 0; i < numbers.size(); ++i) {
    if (i) out += ',';
    out += std::to_string(numbers[i]);
  }
  return out;
}

}  // namespace grpo::rewards
