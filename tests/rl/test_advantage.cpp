// Group-relative advantages against hand-computed groups.
#include "tests/catch_torch.h"

#include <cmath>

#include "rl/advantage.h"

using namespace grpo::rl;

TEST_CASE("GRPO advantages of hand-computed groups", "[cpu]") {
  // Group 0: rewards (1, 0, 0, 1): mean 0.5, unbiased std sqrt(1/3) -> +-0.5 / 0.57735 = +-0.866025.
  // Group 1: all equal -> exactly 0, no NaN. Group 2: (0.1, 1, 0.1, 0.1): mean 0.325, std 0.45.
  at::Tensor r = at::tensor(std::vector<double>{1, 0, 0, 1, 0.1, 0.1, 0.1, 0.1, 0.1, 1, 0.1, 0.1}).view({3, 4});
  AdvantageConfig cfg;
  cfg.eps = 0.0;
  AdvantageResult a = compute_group_advantages(r, cfg);
  auto A = a.advantages.accessor<float, 2>();
  CHECK(A[0][0] == Approx(0.8660254));
  CHECK(A[0][1] == Approx(-0.8660254));
  for (int j = 0; j < 4; ++j) CHECK(A[1][j] == 0.0f);
  CHECK(A[2][1] == Approx((1 - 0.325) / 0.45));
  CHECK(A[2][0] == Approx((0.1 - 0.325) / 0.45));
  CHECK(a.n_zero_variance == 1);
  CHECK(a.zero_variance[1].item<bool>());
  CHECK_FALSE(at::isnan(a.advantages).any().item<bool>());
}

TEST_CASE("Dr. GRPO advantages skip the std", "[cpu]") {
  at::Tensor r = at::tensor(std::vector<double>{1, 0, 0, 0}).view({1, 4});
  AdvantageConfig cfg;
  cfg.scale_by_std = false;
  AdvantageResult a = compute_group_advantages(r, cfg);
  CHECK(a.advantages[0][0].item<float>() == Approx(0.75));
  CHECK(a.advantages[0][1].item<float>() == Approx(-0.25));
}

TEST_CASE("advantages need groups of at least two", "[cpu]") {
  REQUIRE_THROWS_WITH(compute_group_advantages(at::zeros({3, 1}), AdvantageConfig{}), Catch::Contains("G >= 2"));
}

TEST_CASE("verifier ties: a group whose verdicts all agree carries no signal, whatever its shaping", "[cpu]") {
  // rewards = correct + 0.1 * boxed: group 0 all wrong (boxing differs), 1 all right, 2 mixed, 3 equal rewards.
  at::Tensor r = at::tensor({0.0, 0.1, 0.0, 0.1, 1.1, 1.0, 1.0, 1.0, 1.1, 0.0, 0.1, 0.0, 0.0, 0.0, 0.0, 0.0},
                            at::kDouble).view({4, 4});
  at::Tensor ok = at::tensor({0, 0, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0}, at::kInt).view({4, 4}).to(at::kBool);
  AdvantageResult a = compute_group_advantages(r, {});
  CHECK(a.n_zero_variance == 1);
  CHECK(a.advantages[0][1].item<float>() == Approx(std::sqrt(3.0) / 2).epsilon(1e-4));  // 0.1 apart: full size
  const at::Tensor mixed = a.advantages[2].clone();
  mark_verifier_ties(a, ok);
  CHECK(a.n_zero_variance == 3);
  CHECK(a.zero_variance.equal(at::tensor({1, 1, 0, 1}, at::kInt).to(at::kBool)));
  CHECK(a.advantages[0].abs().sum().item<float>() == 0.0f);
  CHECK(a.advantages[1].abs().sum().item<float>() == 0.0f);
  CHECK(at::equal(a.advantages[2], mixed));  // the shaping still orders samples inside a group that has signal
  CHECK_THROWS_WITH(mark_verifier_ties(a, ok.view({2, 8})), Catch::Contains("does not match"));
}

TEST_CASE("batch-level std: group means subtracted, one std over the whole batch", "[cpu]") {
  at::Tensor r = at::tensor(std::vector<double>{1, 0, 0, 0, 1, 1, 2, 0}).view({2, 4});
  AdvantageConfig cfg;
  cfg.std_scope = "batch";
  AdvantageResult a = compute_group_advantages(r, cfg);
  // Group means 0.25 and 1.0; the std of all 8 rewards (unbiased): mean 0.625, squares sum 3.875 -> var 0.5536
  const double std = std::sqrt((1 + 0 + 0 + 0 + 1 + 1 + 4 + 0 - 8 * 0.625 * 0.625) / 7);
  CHECK(a.advantages[0][0].item<double>() == Approx(0.75 / (std + 1e-6)).epsilon(1e-5));
  CHECK(a.advantages[1][2].item<double>() == Approx(1.0 / (std + 1e-6)).epsilon(1e-5));
  CHECK(a.advantages[1][3].item<double>() == Approx(-1.0 / (std + 1e-6)).epsilon(1e-5));
  cfg.std_scope = "rows";
  CHECK_THROWS_WITH(compute_group_advantages(r, cfg), Catch::Contains("rl.std_scope"));
}
