// The clipped policy-gradient loss: a 2-sequence batch against hand-computed numbers, clipping zeroing the
// gradient outside the trust region, the KL estimators and the aggregation weights.
#include "tests/catch_torch.h"

#include <cmath>

#include "rl/loss.h"

using namespace grpo::rl;

namespace {
at::Tensor t(std::vector<float> v) { return at::tensor(v); }
}  // namespace

TEST_CASE("loss of a 2-sequence batch equals the hand-computed value", "[cpu]") {
  // Sequence 0 (advantage +1) has 2 tokens, sequence 1 (advantage -0.5) has 3: token-mean over 5 tokens.
  at::Tensor mask = t({1, 1, 0, 1, 1, 1}).view({2, 3});
  LossConfig cfg;  // clip 0.2/0.2, token mean
  at::Tensor w = aggregation_weights(mask, cfg).view({-1}).index_select(0, at::tensor(std::vector<int64_t>{0, 1, 3, 4, 5}));
  // log-ratios: ratios 1.1, 1.3 (clipped at 1.2 for A>0), 0.9, 0.7 (clipped at 0.8 for A<0), 1.0
  at::Tensor old = t({-1.0f, -2.0f, -0.5f, -1.5f, -3.0f});
  at::Tensor lp = old + at::log(t({1.1f, 1.3f, 0.9f, 0.7f, 1.0f}));
  at::Tensor adv = t({1.0f, 1.0f, -0.5f, -0.5f, -0.5f});
  // Per token max(-A r, -A clip(r)): -1.1, -1.2, 0.45, 0.4, 0.5 -> mean = 0.05 / 5 = 0.01
  LossOutput out = policy_loss(lp, old, adv, w, at::Tensor(), cfg);
  CHECK(out.loss.item<double>() == Approx((-1.1 - 1.2 + 0.45 + 0.4 + 0.5) / 5).margin(1e-6));
  CHECK(out.stats.clip_fraction == Approx(2.0 / 5));

  // Sequence-mean: (mean(-1.1, -1.2) + mean(0.45, 0.4, 0.5)) / 2
  cfg.aggregation = LossAggregation::seq_mean_token_mean;
  at::Tensor ws = aggregation_weights(mask, cfg).view({-1}).index_select(0, at::tensor(std::vector<int64_t>{0, 1, 3, 4, 5}));
  CHECK(policy_loss(lp, old, adv, ws, at::Tensor(), cfg).loss.item<double>() ==
        Approx(((-1.1 - 1.2) / 2 + (0.45 + 0.4 + 0.5) / 3) / 2).margin(1e-6));
}

TEST_CASE("clipping zeroes the gradient outside the trust region", "[cpu]") {
  LossConfig cfg;
  cfg.clip_low = 0.2;
  cfg.clip_high = 0.28;  // clip-higher
  // ratio r for tokens: (A>0, r=1.5) clipped; (A>0, r=1.1) inside; (A<0, r=0.5) clipped; (A<0, r=1.5) NOT
  // clipped (the pessimistic bound keeps the unclipped term); (A>0, r=0.5) not clipped.
  at::Tensor ratios = t({1.5f, 1.1f, 0.5f, 1.5f, 0.5f});
  at::Tensor adv = t({1.0f, 1.0f, -1.0f, -1.0f, 1.0f});
  at::Tensor old = at::zeros({5});
  at::Tensor lp = at::log(ratios).detach().requires_grad_(true);
  at::Tensor w = at::full({5}, 0.2f);
  policy_loss(lp, old, adv, w, at::Tensor(), cfg).loss.backward();
  at::Tensor g = lp.grad();
  CHECK(g[0].item<float>() == 0.0f);
  CHECK(g[2].item<float>() == 0.0f);
  // d/dlp of -A * exp(lp) * w = -A * r * w
  CHECK(g[1].item<float>() == Approx(-1.0 * 1.1 * 0.2));
  CHECK(g[3].item<float>() == Approx(1.0 * 1.5 * 0.2));
  CHECK(g[4].item<float>() == Approx(-1.0 * 0.5 * 0.2));
  // Just inside the clip-higher bound (1.27 < 1.28) the gradient flows.
  at::Tensor lp2 = at::log(t({1.27f})).requires_grad_(true);
  policy_loss(lp2, at::zeros({1}), t({1.0f}), t({1.0f}), at::Tensor(), cfg).loss.backward();
  CHECK(lp2.grad()[0].item<float>() != 0.0f);
}

TEST_CASE("KL estimators against their formulas", "[cpu]") {
  at::Tensor lp = t({-1.0f, -2.0f}), ref = t({-1.5f, -1.0f}), zero = at::zeros({2}), w = t({0.5f, 0.5f});
  LossConfig cfg;
  cfg.kl_coef = 0.1;
  for (std::string est : {"k1", "k2", "k3"}) {
    cfg.kl_estimator = est;
    double expect = 0;
    for (auto [a, b] : {std::pair{-1.0, -1.5}, std::pair{-2.0, -1.0}}) {
      double log_r = b - a;
      expect += est == "k1" ? -log_r : est == "k2" ? 0.5 * log_r * log_r : std::exp(log_r) - log_r - 1;
    }
    LossOutput out = policy_loss(lp, lp, zero, w, ref, cfg);  // ratio 1, advantage 0: only the KL term
    INFO(est);
    CHECK(out.loss.item<double>() == Approx(0.1 * expect / 2));
    CHECK(out.stats.kl == Approx(expect / 2));
  }
  cfg.kl_estimator = "k3";
  REQUIRE_THROWS_WITH(policy_loss(lp, lp, zero, w, at::Tensor(), cfg), Catch::Contains("ref_logprobs"));
}
