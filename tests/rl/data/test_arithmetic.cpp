// The arithmetic word-problem generator: distinct problems, answers that follow the stated steps (recomputed here
// from the text), a stable held-out split disjoint from training, and the math verifier accepting the gold.
#include <catch2/catch.hpp>

#include <regex>
#include <set>

#include "rewards/math/math_reward.h"
#include "rl/data/arithmetic.h"

using namespace grpo;
using namespace grpo::rl::data;

namespace {

// Replays a question's steps: "X has N obj." then "gets B more" / "gives B to" / "B times as many" /
// "among B bags".
int64_t replay(const std::string& q) {
  std::smatch m;
  REQUIRE(std::regex_search(q, m, std::regex(R"(^\w+ has (\d+) )")));
  int64_t v = std::stoll(m[1]);
  static const std::regex step(R"((gets (\d+) more|gives (\d+) to|with (\d+) times as many|among (\d+) bags))");
  for (auto it = std::sregex_iterator(q.begin(), q.end(), step); it != std::sregex_iterator(); ++it) {
    const auto& s = *it;
    if (s[2].matched) v += std::stoll(s[2]);
    if (s[3].matched) v -= std::stoll(s[3]);
    if (s[4].matched) v *= std::stoll(s[4]);
    if (s[5].matched) {
      const int64_t d = std::stoll(s[5]);
      CHECK(v % d == 0);
      v /= d;
    }
  }
  return v;
}

}  // namespace

TEST_CASE("arithmetic problems: distinct, answers follow the steps, a stable disjoint split", "[cpu]") {
  ArithmeticConfig cfg;
  cfg.n_problems = 3000;
  RecordSource a = arithmetic_source(cfg), b = arithmetic_source(cfg);
  REQUIRE(a.eval.size() == 1);
  const auto& held = a.eval[0].records;
  CHECK(a.train.size() + held.size() == 3000);
  CHECK(held.size() > 200);
  CHECK(held.size() < 400);
  std::set<std::string> train;
  for (const auto& r : a.train) train.insert(r.fields["question"].get<std::string>());
  CHECK(train.size() == a.train.size());
  std::set<int64_t> steps_seen;
  for (const auto& r : held) {
    const std::string q = r.fields["question"];
    CHECK(train.count(q) == 0);
    const int64_t answer = std::stoll(r.fields["answer"].get<std::string>());
    CHECK(replay(q) == answer);
    CHECK(answer >= 0);
    CHECK(answer <= cfg.max_value);
    steps_seen.insert(std::count(q.begin(), q.end(), '.'));  // sentences: 1 + steps
    // The math verifier reads the gold as written.
    CHECK(rewards::math::score_math("\\boxed{" + std::to_string(answer) + "}", std::to_string(answer)).verdict ==
          rewards::Verdict::ok);
  }
  CHECK(steps_seen.size() == 3);  // one, two and three steps all occur
  // The same seed gives the same set; another set seed, another set.
  REQUIRE(b.eval[0].records.size() == held.size());
  for (size_t i = 0; i < held.size(); ++i) CHECK(b.eval[0].records[i].fields == held[i].fields);
  cfg.set_seed = 7;
  CHECK(arithmetic_source(cfg).eval[0].records[0].fields != held[0].fields);
  cfg.max_steps = 9;
  CHECK_THROWS_WITH(cfg.validate(), Catch::Contains("data.arithmetic.min_steps/max_steps"));
}
