// Evaluation estimators on hand-made tables: the unbiased pass@k of Chen et al. 2021, the bootstrap standard error
// of avg@k, and maj@k's vote.
#include "tests/catch_torch.h"

#include "rl/evaluate.h"

using namespace grpo::rl;

TEST_CASE("pass@k: the unbiased estimator on a hand-made table", "[cpu]") {
  struct Row {
    int64_t n, c, k;
    double want;  // 1 - C(n-c, k) / C(n, k), by hand
  };
  const Row table[] = {
      {5, 2, 1, 1.0 - 3.0 / 5},    {5, 2, 2, 1.0 - 3.0 / 10},     {5, 2, 3, 1.0 - 1.0 / 10}, {5, 2, 4, 1.0},
      {10, 0, 5, 0.0},             {10, 10, 1, 1.0},              {10, 3, 5, 1.0 - 21.0 / 252},
      {16, 1, 8, 1.0 - 6435.0 / 12870}, {64, 5, 1, 5.0 / 64},
  };
  for (const Row& r : table) {
    INFO("n=" << r.n << " c=" << r.c << " k=" << r.k);
    CHECK(pass_at_k(r.n, r.c, r.k) == Approx(r.want).epsilon(1e-12));
  }
  CHECK_THROWS_WITH(pass_at_k(4, 5, 1), Catch::Contains("c <= n"));
  CHECK_THROWS(pass_at_k(4, 1, 5));
}

TEST_CASE("bootstrap standard error and majority vote", "[cpu]") {
  std::vector<double> half(100);
  for (size_t i = 0; i < half.size(); ++i) half[i] = i % 2;
  // SE of a mean of 100 fair coins: sqrt(0.25 / 100) = 0.05.
  CHECK(bootstrap_se(half, 4000, 7) == Approx(0.05).margin(0.004));
  CHECK(bootstrap_se(std::vector<double>(50, 0.3), 100, 7) == Approx(0.0).margin(1e-12));
  CHECK(bootstrap_se({1.0}, 100, 7) == 0.0);
  CHECK(majority_correct({"4", "4", "5"}, {true, true, false}));
  CHECK_FALSE(majority_correct({"5", "5", "4"}, {false, false, true}));
  CHECK_FALSE(majority_correct({"a", "b"}, {false, true}));  // a tie goes to the answer seen first
  CHECK(majority_correct({"", "", "x"}, {false, false, true}));  // no answer casts no vote
  CHECK_FALSE(majority_correct({"", ""}, {false, false}));
}
