// Arithmetic word problems; see arithmetic.h.
#include "rl/data/arithmetic.h"

#include <algorithm>
#include <iterator>
#include <random>
#include <unordered_set>

#include "kernels/check.h"
#include "kernels/hash.h"

namespace grpo::rl::data {

void ArithmeticConfig::validate() const {
  GRPO_CHECK(n_problems > 0, "data.arithmetic.n_problems must be > 0, got ", n_problems);
  GRPO_CHECK(min_steps >= 1 && min_steps <= max_steps && max_steps <= 5,
             "data.arithmetic.min_steps/max_steps must satisfy 1 <= min <= max <= 5, got ", min_steps, "..", max_steps);
  GRPO_CHECK(max_number >= 2 && max_factor >= 2 && max_value >= max_number, "data.arithmetic: need max_number >= 2, "
             "max_factor >= 2 and max_value >= max_number");
  GRPO_CHECK(heldout_fraction > 0 && heldout_fraction < 1, "data.arithmetic.heldout_fraction must be in (0, 1), got ",
             heldout_fraction);
}

namespace {

struct Person {
  const char* name;
  const char* pronoun;  // "he", "she"
};
constexpr Person kPeople[] = {{"Ben", "he"},   {"Maya", "she"}, {"Omar", "he"},  {"Lena", "she"}, {"Tom", "he"},
                              {"Sara", "she"}, {"Ali", "he"},   {"Nina", "she"}, {"Jack", "he"}, {"Rosa", "she"}};
constexpr const char* kObjects[] = {"coins",  "apples", "stickers", "marbles", "pencils",
                                    "cards",  "books",  "shells",   "stamps",  "candies"};

enum class Op { add, sub, mul, div };

// One problem drawn from rng, or an empty question when the draw left the allowed range.
std::pair<std::string, int64_t> draw_problem(const ArithmeticConfig& cfg, std::mt19937_64& rng) {
  auto uniform = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  const Person& who = kPeople[uniform(0, static_cast<int64_t>(std::size(kPeople)) - 1)];
  const std::string obj = kObjects[uniform(0, static_cast<int64_t>(std::size(kObjects)) - 1)];
  const std::string he = who.pronoun;
  int64_t value = uniform(1, cfg.max_number);
  std::string q = std::string(who.name) + " has " + std::to_string(value) + " " + obj + ".";
  const int64_t steps = uniform(cfg.min_steps, cfg.max_steps);
  for (int64_t s = 0; s < steps; ++s) {
    const Op op = static_cast<Op>(uniform(0, 3));
    const std::string then = s == 0 ? " Then " : " After that, ";
    if (op == Op::add) {
      const int64_t b = uniform(1, cfg.max_number);
      value += b;
      q += then + he + " gets " + std::to_string(b) + " more.";
    } else if (op == Op::sub) {
      if (value < 2) return {"", 0};
      const int64_t b = uniform(1, std::min(value - 1, cfg.max_number));
      value -= b;
      q += then + he + " gives " + std::to_string(b) + " to a friend.";
    } else if (op == Op::mul) {
      const int64_t b = uniform(2, cfg.max_factor);
      value *= b;
      q += then + he + " ends up with " + std::to_string(b) + " times as many.";
    } else {
      std::vector<int64_t> divisors;
      for (int64_t d = 2; d <= cfg.max_factor; ++d) {
        if (value % d == 0) divisors.push_back(d);
      }
      if (divisors.empty()) return {"", 0};
      const int64_t b = divisors[static_cast<size_t>(uniform(0, static_cast<int64_t>(divisors.size()) - 1))];
      value /= b;
      q += then + he + " shares them equally among " + std::to_string(b) + " bags and keeps one bag.";
    }
    if (value > cfg.max_value) return {"", 0};
  }
  q += " How many " + obj + " does " + who.name + " have now?";
  return {q, value};
}

}  // namespace

RecordSource arithmetic_source(const ArithmeticConfig& cfg) {
  cfg.validate();
  std::mt19937_64 rng(mix64(static_cast<uint64_t>(cfg.set_seed)));
  std::unordered_set<std::string> seen;
  std::vector<std::pair<uint64_t, Record>> heldout;
  RecordSource s;
  const uint64_t cut = static_cast<uint64_t>(cfg.heldout_fraction * 18446744073709551615.0);
  int64_t attempts = 0;
  while (static_cast<int64_t>(seen.size()) < cfg.n_problems) {
    GRPO_CHECK(++attempts <= cfg.n_problems * 50, "data.arithmetic: only ", seen.size(), " distinct problems in ",
               attempts - 1, " draws; hint: lower n_problems or widen max_number / max_steps");
    auto [question, answer] = draw_problem(cfg, rng);
    if (question.empty() || !seen.insert(question).second) continue;
    uint64_t h = mix64(0x61726974686dull);  // "arithm"
    for (unsigned char c : question) h = mix64(h ^ c);
    Record r;
    r.fields = {{"question", question}, {"answer", std::to_string(answer)}};
    r.origin = "arithmetic problem " + std::to_string(seen.size() - 1);
    if (h < cut) {
      heldout.emplace_back(h, std::move(r));
    } else {
      s.train.push_back(std::move(r));
    }
  }
  std::sort(heldout.begin(), heldout.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  EvalRecords set{"heldout", {}};
  for (auto& [h, r] : heldout) set.records.push_back(std::move(r));
  GRPO_CHECK(!s.train.empty() && !set.records.empty(), "data.arithmetic: the split left a side empty; hint: raise "
             "n_problems");
  s.eval.push_back(std::move(set));
  return s;
}

}  // namespace grpo::rl::data
