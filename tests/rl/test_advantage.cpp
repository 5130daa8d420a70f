// Group-relative advantages against hand-computed groups.
#include "tests/catch_torch.h"

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
