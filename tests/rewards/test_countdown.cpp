// Tests for rewards/countdown: a table of checker cases (correct, wrong, unparsable and hostile inputs),
// the parser and answer extraction on their own, meta parsing, and a seeded fuzz loop with a
// differential check against an independently built expression tree.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "kernels/check.h"
#include "rewards/countdown.h"

using namespace std::string_literals;
using grpo::rewards::CountdownConfig;
using grpo::rewards::CountdownProblem;
using grpo::rewards::Score;
using grpo::rewards::Verdict;

namespace {

std::string wrap(const std::string& answer) { return "<answer>" + answer + "</answer>"; }

std::string repeat(const std::string& s, size_t n) {
  std::string out;
  out.reserve(s.size() * n);
  for (size_t i = 0; i < n; ++i) out += s;
  return out;
}

// Value, verdict and components must agree with each other (TinyZero's three reward levels).
void check_consistent(const Score& s, const CountdownConfig& cfg = {}) {
  INFO("verdict " << grpo::rewards::verdict_name(s.verdict) << " value " << s.value << " detail " << s.detail);
  REQUIRE(s.components.count("correct") == 1);
  REQUIRE(s.components.count("format") == 1);
  switch (s.verdict) {
    case Verdict::ok:
      CHECK(s.value == cfg.correct_reward);
      CHECK(s.components.at("correct") == 1.0);
      CHECK(s.components.at("format") == 1.0);
      break;
    case Verdict::wrong:
      CHECK(s.value == cfg.format_reward);
      CHECK(s.components.at("correct") == 0.0);
      CHECK(s.components.at("format") == 1.0);
      break;
    case Verdict::unparsable:
      CHECK(s.value == 0.0);
      CHECK(s.components.at("correct") == 0.0);
      CHECK(s.components.at("format") == 0.0);
      break;
    default:
      FAIL("unexpected verdict for a countdown completion");
  }
}

struct Case {
  const char* name;
  std::string completion;
  std::vector<int64_t> numbers;
  int64_t target;
  Verdict verdict;
  std::string detail;  // substring the detail must contain ("" = anything)
};

const std::vector<int64_t> kN = {3, 15, 7};  // target 66 = (15+7)*3

std::vector<Case> checker_cases() {
  const Verdict ok = Verdict::ok, wrong = Verdict::wrong, bad = Verdict::unparsable;
  return {
      // ---- correct ----
      {"plain", wrap("(15+7)*3"), kN, 66, ok, "= 66"},
      {"spaces", wrap(" ( 15 + 7 ) * 3 "), kN, 66, ok, ""},
      {"think trace first", "<think>15+7=22, 22*3=66</think>\n" + wrap("3*(7+15)"), kN, 66, ok, ""},
      {"newlines inside", wrap("\n(15+7)*3\n"), kN, 66, ok, ""},
      {"tab inside", wrap("(15\t+7)*3"), kN, 66, ok, ""},
      {"redundant parentheses", wrap("((((15+7))))*(3)"), kN, 66, ok, ""},
      {"exact integer division", wrap("(20-2)/6*5"), {20, 2, 6, 5}, 15, ok, ""},
      {"fractional intermediate", wrap("7/2*4"), {7, 2, 4}, 14, ok, ""},
      {"fraction then multiply", wrap("4*7/2"), {7, 2, 4}, 14, ok, ""},
      {"classic 24 with fractions", wrap("6/(1-3/4)"), {1, 3, 4, 6}, 24, ok, ""},
      {"repeated given numbers", wrap("8/(3-8/3)"), {3, 3, 8, 8}, 24, ok, ""},
      {"5 5 5 1", wrap("5*(5-1/5)"), {5, 5, 5, 1}, 24, ok, ""},
      {"single number", wrap("10"), {10}, 10, ok, ""},
      {"zero among numbers", wrap("5+0"), {0, 5}, 5, ok, ""},
      {"negative intermediate", wrap("(3-7)*(0-15)"), {3, 7, 0, 15}, 60, ok, ""},
      {"negative target", wrap("3-15+7"), kN, -5, ok, ""},
      {"leading zero literal", wrap("(015+7)*3"), kN, 66, ok, ""},
      {"last of several answers", wrap("15+7+3") + " wait, no: " + wrap("(15+7)*3"), kN, 66, ok, ""},
      {"answer inside think ignored", "<think>" + wrap("1") + "</think>" + wrap("(15+7)*3"), kN, 66, ok, ""},
      {"answer exactly at the cap", wrap("(15+7)*3" + std::string(248, ' ')), kN, 66, ok, ""},
      {"18-digit literal", wrap("999999999999999999"), {999999999999999999}, 999999999999999999, ok, ""},
      {"depth exactly 64", wrap(repeat("(", 64) + "1" + repeat(")", 64)), {1}, 1, ok, ""},
      // ---- wrong value ----
      {"wrong value", wrap("15+7+3"), kN, 66, wrong, "= 25, target 66"},
      {"fractional value", wrap("15/(7-3)"), kN, 66, wrong, "= 15/4, target 66"},
      {"non-integer vs target", wrap("7/2"), {7, 2}, 3, wrong, "= 7/2, target 3"},
      {"negative value", wrap("3-15-7"), kN, 66, wrong, "= -19, target 66"},
      {"earlier answer right, last wrong", wrap("(15+7)*3") + " hmm " + wrap("15+7+3"), kN, 66, wrong, "= 25"},
      // ---- wrong numbers ----
      {"reused number", wrap("15*3+7*3"), kN, 66, wrong, "uses 3 twice, given once"},
      {"reused three times", wrap("(15+7)*3+7-7"), kN, 66, wrong, "uses 7 3 times, given once"},
      {"missing number", wrap("(15+7)*3"), {3, 15, 7, 1}, 66, wrong, "does not use 1"},
      {"extra number", wrap("(15+7)*3*1"), kN, 66, wrong, "uses 1, which is not among the given numbers"},
      {"number not given", wrap("22*3"), kN, 66, wrong, "does not use 7"},
      {"repeat given, used once", wrap("8*3"), {3, 3, 8, 8}, 24, wrong, "uses 3 once, given twice"},
      {"18-digit literal not given", wrap("999999999999999999"), {1000000000000000000}, 1, wrong, "not among"},
      // ---- arithmetic errors: well-formed, so format reward ----
      {"division by zero", wrap("15/(7-7)*3"), {15, 7, 7, 3}, 66, wrong, "division by zero"},
      {"zero over zero", wrap("0/0"), {0, 0}, 0, wrong, "division by zero"},
      {"division by zero, wrong numbers", wrap("5/0"), kN, 66, wrong, "not among"},
      {"int64 overflow", wrap(repeat("99*", 11) + "99"), std::vector<int64_t>(12, 99), 1, wrong, "overflow"},
      // ---- no answer ----
      {"no answer tag", "the answer is (15+7)*3", kN, 66, bad, "no <answer>"},
      {"empty completion", "", kN, 66, bad, "no <answer>"},
      {"only open tag", "<answer>(15+7)*3", kN, 66, bad, "no <answer>"},
      {"only close tag", "(15+7)*3</answer>", kN, 66, bad, "no <answer>"},
      {"uppercase tags", "<ANSWER>(15+7)*3</ANSWER>", kN, 66, bad, "no <answer>"},
      {"nested answer tags", "<answer>" + wrap("(15+7)*3") + "</answer>", kN, 66, bad, "'<'"},
      // ---- unparsable contents ----
      {"empty answer", wrap(""), kN, 66, bad, "empty expression"},
      {"whitespace only", wrap("  \n\t "), kN, 66, bad, "empty expression"},
      {"letters", wrap("fifteen plus seven"), kN, 66, bad, "'f'"},
      {"variable", wrap("x+1"), kN, 66, bad, ""},
      {"unary minus", wrap("-3+15+7"), kN, 19, bad, "unary minus"},
      {"unary minus in parentheses", wrap("15+7-(-3)"), kN, 25, bad, "unary minus"},
      {"power", wrap("3**2"), kN, 9, bad, "'*'"},
      {"caret", wrap("3^2"), kN, 9, bad, "'^'"},
      {"trailing operator", wrap("(15+7)*3+"), kN, 66, bad, "expression ends"},
      {"leading operator", wrap("*3"), kN, 66, bad, ""},
      {"unclosed parenthesis", wrap("(15+7*3"), kN, 66, bad, "unclosed"},
      {"stray closing", wrap(")15+7(*3"), kN, 66, bad, ""},
      {"extra closing", wrap("(15+7))*3"), kN, 66, bad, "')'"},
      {"empty parentheses", wrap("()"), kN, 66, bad, ""},
      {"adjacent numbers", wrap("15 7 3"), kN, 66, bad, ""},
      {"equals sign", wrap("(15+7)*3=66"), kN, 66, bad, "'='"},
      {"decimal", wrap("1.5*2"), {1, 5, 2}, 3, bad, "'.'"},
      {"comma", wrap("15,7"), kN, 66, bad, "','"},
      {"trailing period", wrap("(15+7)*3."), kN, 66, bad, "'.'"},
      {"fullwidth digit", wrap("\xEF\xBC\x93+5"), {3, 5}, 8, bad, "byte 0xEF"},
      {"multiplication sign", wrap("3\xC3\x97" "5"), {3, 5}, 15, bad, "byte 0xC3"},
      {"emoji", wrap("3+5\xF0\x9F\x98\x80"), {3, 5}, 8, bad, "byte 0xF0"},
      {"NUL byte inside", "<answer>(15+7)\0*3</answer>"s, kN, 66, bad, "byte 0x00"},
      {"19-digit literal", wrap("1234567890123456789"), {3}, 3, bad, "more than 18 digits"},
      {"500-digit number", wrap(std::string(500, '9')), {9}, 9, bad, "longer than the 256"},
      {"long answer over the cap", wrap(repeat("1+", 200) + "1"), std::vector<int64_t>(201, 1), 201, bad,
       "401 chars"},
      {"answer one over the cap", wrap("(15+7)*3" + std::string(249, ' ')), kN, 66, bad, "257 chars"},
      {"depth 65", wrap(repeat("(", 65) + "1" + repeat(")", 65)), {1}, 1, bad, "deeper than 64"},
      {"10000 nested parentheses", wrap(repeat("(", 10000) + "1" + repeat(")", 10000)), {1}, 1, bad, "longer"},
  };
}

}  // namespace

TEST_CASE("countdown: checker table", "[cpu]") {
  const auto cases = checker_cases();
  CHECK(cases.size() >= 45);
  for (const auto& c : cases) {
    INFO("case: " << c.name);
    Score s = grpo::rewards::score_countdown(c.completion, CountdownProblem{c.numbers, c.target});
    INFO("got " << grpo::rewards::verdict_name(s.verdict) << " (" << s.value << "): " << s.detail);
    CHECK(s.verdict == c.verdict);
    if (!c.detail.empty()) CHECK(s.detail.find(c.detail) != std::string::npos);
    check_consistent(s);
  }
}

TEST_CASE("countdown: hostile inputs beyond the caps return quickly", "[cpu]") {
  CountdownConfig roomy;
  roomy.max_answer_chars = 1 << 20;  // let the parser itself face the input
  auto t0 = std::chrono::steady_clock::now();

  Score deep = grpo::rewards::score_countdown(wrap(repeat("(", 10000) + "1" + repeat(")", 10000)), {{1}, 1}, roomy);
  CHECK(deep.verdict == Verdict::unparsable);
  CHECK(deep.detail.find("deeper than 64") != std::string::npos);

  Score digits = grpo::rewards::score_countdown(wrap(std::string(500, '7')), {{7}, 7}, roomy);
  CHECK(digits.verdict == Verdict::unparsable);
  CHECK(digits.detail.find("more than 18 digits") != std::string::npos);

  // A long flat sum parses in linear time and is checked normally.
  Score flat = grpo::rewards::score_countdown(wrap(repeat("1+", 100000) + "1"),
                                              {std::vector<int64_t>(100001, 1), 100001}, roomy);
  CHECK(flat.verdict == Verdict::ok);

  // Tag search stays linear with many opens and no close, or many complete pairs.
  Score opens = grpo::rewards::score_countdown(repeat("<answer>", 200000), {{1}, 1});
  CHECK(opens.verdict == Verdict::unparsable);
  Score pairs = grpo::rewards::score_countdown(repeat(wrap("x"), 100000) + wrap("1"), {{1}, 1});
  CHECK(pairs.verdict == Verdict::ok);

  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  CHECK(ms < 2000.0);  // generous: each of these is a few milliseconds when linear
}

TEST_CASE("countdown: config changes rewards and bounds", "[cpu]") {
  CountdownConfig cfg;
  cfg.correct_reward = 2.0;
  cfg.format_reward = 0.5;
  cfg.max_depth = 1;
  Score ok = grpo::rewards::score_countdown(wrap("(15+7)*3"), {kN, 66}, cfg);
  CHECK(ok.value == 2.0);
  Score wrong = grpo::rewards::score_countdown(wrap("15+7+3"), {kN, 66}, cfg);
  CHECK(wrong.value == 0.5);
  Score deep = grpo::rewards::score_countdown(wrap("((15+7))*3"), {kN, 66}, cfg);
  CHECK(deep.verdict == Verdict::unparsable);
  cfg.max_depth = 100000;
  CHECK_THROWS_AS(grpo::rewards::score_countdown(wrap("1"), {{1}, 1}, cfg), grpo::Error);
}

TEST_CASE("countdown: parse_arithmetic", "[cpu]") {
  using grpo::rewards::ArithStatus;
  using grpo::rewards::parse_arithmetic;
  auto e = parse_arithmetic("(15 + 7) * 3 - 4/8", 64);
  REQUIRE(e.ok);
  CHECK(e.value.to_string() == "131/2");
  CHECK(e.literals == std::vector<int64_t>{15, 7, 3, 4, 8});

  auto left_assoc = parse_arithmetic("20-5-3", 64);  // (20-5)-3, not 20-(5-3)
  CHECK(left_assoc.value.to_string() == "12");
  CHECK(parse_arithmetic("64/4/2", 64).value.to_string() == "8");
  CHECK(parse_arithmetic("2+3*4", 64).value.to_string() == "14");

  auto dz = parse_arithmetic("1/0+2", 64);
  CHECK(dz.well_formed);
  CHECK_FALSE(dz.ok);
  CHECK(dz.arith == ArithStatus::division_by_zero);
  CHECK(dz.literals == std::vector<int64_t>{1, 0, 2});

  auto dz_bad = parse_arithmetic("1/0+x", 64);
  CHECK_FALSE(dz_bad.well_formed);

  auto no_parens = parse_arithmetic("(1)", 0);
  CHECK_FALSE(no_parens.well_formed);
  CHECK(parse_arithmetic("1+2", 0).ok);
  CHECK_THROWS_AS(parse_arithmetic("1", -1), grpo::Error);
  CHECK_THROWS_AS(parse_arithmetic("1", grpo::rewards::kMaxParseDepth + 1), grpo::Error);
  CHECK(parse_arithmetic("999999999999999999", 8).ok);
  CHECK_FALSE(parse_arithmetic("9999999999999999999", 8).well_formed);
}

TEST_CASE("countdown: extract_last_answer pairs like TinyZero's non-greedy regex", "[cpu]") {
  using grpo::rewards::extract_last_answer;
  CHECK(extract_last_answer("<answer>a</answer><answer>b</answer>") == std::optional<std::string_view>("b"));
  CHECK(extract_last_answer("<answer>a<answer>b</answer>") == std::optional<std::string_view>("a<answer>b"));
  CHECK(extract_last_answer("<answer>a</answer><answer>b") == std::optional<std::string_view>("a"));
  CHECK(extract_last_answer("<answer></answer>") == std::optional<std::string_view>(""));
  CHECK_FALSE(extract_last_answer("</answer><answer>").has_value());
  CHECK_FALSE(extract_last_answer("<answer").has_value());
}

TEST_CASE("countdown: meta parsing", "[cpu]") {
  using grpo::rewards::score_countdown_meta;
  Score ok = score_countdown_meta(wrap("(15+7)*3"), {{"numbers", "3,15,7"}, {"target", "66"}});
  CHECK(ok.verdict == Verdict::ok);
  CHECK(score_countdown_meta(wrap("(15+7)*3"), {{"numbers", " 3, 15 ,7 "}, {"target", " 66"}}).verdict == Verdict::ok);
  CHECK(score_countdown_meta(wrap("3-15-7"), {{"numbers", "3,15,7"}, {"target", "-19"}}).verdict == Verdict::ok);

  const grpo::rewards::Meta bad_metas[] = {
      {{"target", "66"}},
      {{"numbers", "3,15,7"}},
      {{"numbers", ""}, {"target", "66"}},
      {{"numbers", "3,,7"}, {"target", "66"}},
      {{"numbers", "3,15,"}, {"target", "66"}},
      {{"numbers", "3,a"}, {"target", "66"}},
      {{"numbers", "3,-15"}, {"target", "66"}},
      {{"numbers", "3,1234567890123456789"}, {"target", "66"}},
      {{"numbers", "3,15,7"}, {"target", "sixty"}},
      {{"numbers", "3,15,7"}, {"target", ""}},
      {{"numbers", "3,15,7"}, {"target", "6.6"}},
  };
  for (const auto& meta : bad_metas) {
    Score s = score_countdown_meta(wrap("(15+7)*3"), meta);
    INFO(s.detail);
    CHECK(s.verdict == Verdict::invalid_input);
    CHECK(s.value == 0.0);
    CHECK(s.detail.find("expected meta like") != std::string::npos);
  }
  CHECK(grpo::rewards::format_countdown_numbers({3, 15, 7}) == "3,15,7");
  CHECK(grpo::rewards::format_countdown_numbers({}) == "");
  std::string err;
  auto p = grpo::rewards::parse_countdown_meta({{"numbers", grpo::rewards::format_countdown_numbers({0, 99, 5})},
                                                {"target", "42"}},
                                               &err);
  REQUIRE(p.has_value());
  CHECK(p->numbers == std::vector<int64_t>{0, 99, 5});
  CHECK(p->target == 42);
}

namespace {

// An expression tree built and evaluated independently of the parser; printed fully parenthesised.
struct Built {
  std::string text;
  grpo::rewards::RationalResult value;
};

Built build_random(std::mt19937_64& rng, std::vector<int64_t> nums) {
  std::vector<Built> parts;
  for (int64_t n : nums) parts.push_back({std::to_string(n), {grpo::rewards::Rational(n), {}}});
  while (parts.size() > 1) {
    size_t i = rng() % parts.size();
    Built a = parts[i];
    parts.erase(parts.begin() + static_cast<long>(i));
    size_t j = rng() % parts.size();
    Built b = parts[j];
    parts.erase(parts.begin() + static_cast<long>(j));
    const char ops[] = "+-*/";
    char op = ops[rng() % 4];
    Built c;
    c.text = "(" + a.text + " " + op + " " + b.text + ")";
    if (!a.value.ok()) {
      c.value = a.value;
    } else if (!b.value.ok()) {
      c.value = b.value;
    } else if (op == '+') {
      c.value = add(a.value.value, b.value.value);
    } else if (op == '-') {
      c.value = sub(a.value.value, b.value.value);
    } else if (op == '*') {
      c.value = mul(a.value.value, b.value.value);
    } else {
      c.value = div(a.value.value, b.value.value);
    }
    parts.push_back(c);
  }
  return parts[0];
}

// Digit runs of s, sorted (TinyZero's validate_equation uses re.findall(r'\d+')).
std::vector<int64_t> digit_runs(std::string_view s) {
  std::vector<int64_t> out;
  for (size_t i = 0; i < s.size();) {
    if (s[i] >= '0' && s[i] <= '9') {
      int64_t v = 0;
      while (i < s.size() && s[i] >= '0' && s[i] <= '9') v = v * 10 + (s[i++] - '0');
      out.push_back(v);
    } else {
      ++i;
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_CASE("countdown: seeded fuzz never crashes and stays consistent", "[cpu]") {
  std::mt19937_64 rng(20240607);
  const std::string alphabet = "0123456789+-*/() \t\n<>answer/.=x";
  int n_ok = 0, n_wrong = 0, n_bad = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    std::vector<int64_t> nums(1 + rng() % 5);
    for (auto& n : nums) n = static_cast<int64_t>(rng() % 101);
    Built built = build_random(rng, nums);
    int64_t target = static_cast<int64_t>(rng() % 200);
    bool exact = built.value.ok() && built.value.value.is_integer();
    if (exact) target = built.value.value.num();

    std::string completion;
    int kind = iter % 4;
    if (kind == 0) {  // random bytes in answer tags
      std::string junk(rng() % 300, '\0');
      for (auto& ch : junk) ch = static_cast<char>(rng() % 256);
      completion = wrap(junk);
    } else if (kind == 1) {  // random text from an arithmetic-and-tags alphabet, no wrapping
      std::string junk(rng() % 300, '\0');
      for (auto& ch : junk) ch = alphabet[rng() % alphabet.size()];
      completion = junk;
    } else {  // a valid answer, unmutated (kind 2) or mutated 1..4 times (kind 3)
      std::string text = built.text;
      int n_mut = kind == 2 ? 0 : 1 + static_cast<int>(rng() % 4);
      for (int m = 0; m < n_mut && !text.empty(); ++m) {
        size_t at = rng() % text.size();
        char ch = rng() % 4 == 0 ? static_cast<char>(rng() % 256) : alphabet[rng() % alphabet.size()];
        switch (rng() % 4) {
          case 0: text.insert(text.begin() + static_cast<long>(at), ch); break;
          case 1: text.erase(at, 1); break;
          case 2: text[at] = ch; break;
          default: text.insert(at, text.substr(at, rng() % 8)); break;
        }
      }
      completion = "<think>let me see</think>" + wrap(text);
    }

    Score s;
    REQUIRE_NOTHROW(s = grpo::rewards::score_countdown(completion, {nums, target}));
    check_consistent(s);
    if (s.verdict == Verdict::ok) {
      ++n_ok;
      auto answer = grpo::rewards::extract_last_answer(completion);
      REQUIRE(answer.has_value());
      std::vector<int64_t> sorted = nums;
      std::sort(sorted.begin(), sorted.end());
      CHECK(digit_runs(*answer) == sorted);
    } else if (s.verdict == Verdict::wrong) {
      ++n_wrong;
    } else {
      ++n_bad;
    }
    if (kind == 2) {  // differential: the parser agrees with the independently built tree
      INFO(built.text << " -> " << s.detail);
      if (exact) {
        CHECK(s.verdict == Verdict::ok);
      } else {
        CHECK(s.verdict == Verdict::wrong);
        if (!built.value.ok()) CHECK(s.detail == grpo::rewards::arith_status_name(built.value.status));
      }
    }
  }
  // The mix must exercise all three outcomes, or the fuzz loop is not testing much.
  CHECK(n_ok > 1000);
  CHECK(n_wrong > 1000);
  CHECK(n_bad > 5000);
}

TEST_CASE("countdown: the Score carries the equation read, without spaces", "[cpu]") {
  const CountdownProblem p{{3, 7, 15}, 66};
  CHECK(score_countdown("<answer> (15 + 7) * 3 </answer>", p).answer == "(15+7)*3");
  CHECK(score_countdown("<answer>15+7+3</answer>", p).answer == "15+7+3");
  CHECK(score_countdown("nothing", p).answer.empty());
}
