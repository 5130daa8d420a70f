// The policy losses: TRL's GRPOTrainer on fixed inputs for every loss type grpo.cpp maps to (fixtures from
// scripts/make_loss_fixtures.py: loss and gradient within 1e-6), GSPO and CISPO against their papers' formulas on
// hand-computed cases, clipping zeroing the gradient, the KL estimators, the importance weights.
#include "tests/catch_torch.h"

#include <cmath>
#include <fstream>

#include <nlohmann/json.hpp>

#include "rl/loss.h"
#include "tests/shared_data.h"

using namespace grpo::rl;

namespace {
at::Tensor t(std::vector<float> v) { return at::tensor(v); }

at::Tensor matrix(const nlohmann::json& j) {
  std::vector<float> v;
  for (const auto& row : j) {
    for (double x : row) v.push_back(static_cast<float>(x));
  }
  return at::tensor(v).view({static_cast<int64_t>(j.size()), -1});
}

// Flat inputs over a [B, T] mask, as the learner builds them for one micro-batch.
struct Flat {
  at::Tensor index, seq;
  int64_t n_seq;
  at::Tensor operator()(const at::Tensor& x) const { return x.reshape({-1}).index_select(0, index); }
};

Flat flat_of(const at::Tensor& mask) {
  Flat f;
  f.index = mask.reshape({-1}).nonzero().squeeze(1);
  f.seq = at::div(f.index, mask.size(1), "floor");
  f.n_seq = mask.size(0);
  return f;
}

// TRL's loss_type and options as our LossConfig.
LossConfig config_for(const nlohmann::json& c, int64_t T) {
  LossConfig cfg;
  const std::string type = c["loss_type"];
  cfg.clip_low = c.value("eps_low", 0.2);
  cfg.clip_high = c.value("eps_high", 0.2);
  if (type == "grpo" || type == "sapo") cfg.aggregation = LossAggregation::seq_mean_token_mean;
  if (type == "bnpo" || type == "dapo" || type == "cispo") cfg.aggregation = LossAggregation::token_mean;
  if (type == "luspo") cfg.aggregation = LossAggregation::seq_sum;
  if (type == "dr_grpo") {
    cfg.aggregation = LossAggregation::seq_mean_token_sum_norm;
    cfg.constant_norm = static_cast<double>(T);  // TRL: max_completion_length
  }
  if (type == "cispo") {
    cfg.loss = "cispo";
    cfg.cispo_max = c.value("eps_high", 0.2);  // TRL caps the weight at epsilon_high
  }
  if (type == "sapo") cfg.loss = "sapo";
  if (c.contains("delta") && !c["delta"].is_null()) cfg.dual_clip = c["delta"].get<double>();
  cfg.ratio_level = c.value("level", std::string("token"));
  cfg.kl_coef = c.value("beta", 0.0);
  cfg.entropy_coef = c.value("entropy_coef", 0.0);
  cfg.validate();
  return cfg;
}
}  // namespace

TEST_CASE("every loss type matches TRL's GRPOTrainer: loss and gradient within 1e-6", "[cpu]") {
  std::ifstream in(grpo::test::source_path("tests/fixtures/loss/trl_loss_fixtures.json"));
  REQUIRE(in.good());
  nlohmann::json fx = nlohmann::json::parse(in);
  const auto& x = fx["inputs"];
  const int64_t T = fx["T"];
  at::Tensor mask = matrix(x["mask"]);
  Flat f = flat_of(mask);
  REQUIRE(fx["cases"].size() == 12);
  for (const auto& c : fx["cases"]) {
    const std::string name = c["name"];
    INFO(name << " (TRL " << fx["trl_version"].get<std::string>() << ")");
    LossConfig cfg = config_for(c, T);
    at::Tensor lp_full = matrix(x["logps"]).requires_grad_(true);
    at::Tensor ent_full = matrix(x["ent"]).requires_grad_(true);
    LossInputs li;
    li.logprobs = f(lp_full);
    li.old_logprobs = f(matrix(x["old"]));
    li.advantages = f(t(x["adv"].get<std::vector<float>>()).unsqueeze(1).expand({mask.size(0), T}));
    li.weights = f(aggregation_weights(mask, cfg));
    li.seq = f.seq;
    li.n_seq = f.n_seq;
    if (cfg.kl_coef > 0) li.ref_logprobs = f(matrix(x["ref"]));
    if (c.value("is", false)) li.is_weights = f(matrix(x["is_ratio"]));
    if (cfg.entropy_coef > 0) {
      li.entropy = f(ent_full);
      li.entropy_weights = f(aggregation_weights(mask, LossAggregation::token_mean));
    }
    LossOutput out = policy_loss(li, cfg);
    CHECK(out.loss.item<double>() == Approx(c["loss"].get<double>()).margin(1e-6));
    out.loss.backward();
    at::Tensor want = matrix(c["grad_logps"]);
    CHECK((lp_full.grad() - want).abs().max().item<double>() < 1e-6);
    if (c.contains("grad_entropy")) {
      CHECK((ent_full.grad() - matrix(c["grad_entropy"])).abs().max().item<double>() < 1e-6);
    }
  }
}

TEST_CASE("GSPO: one clipped ratio per sequence, exp of the mean token log-ratio (hand-computed)", "[cpu]") {
  // Zheng et al. 2025: s_i = (pi/pi_old)^(1/|y_i|) = exp(mean_t log r_t); loss_i = max(-A s, -A clip(s, 1-lo, 1+hi)),
  // averaged over the group. Sequence 0: log-ratios 0.1, 0.3 -> s = e^0.2 = 1.2214 (A = +1: clipped at 1.2, no
  // gradient). Sequence 1: log-ratios -0.05, 0.02, 0.0 -> s = e^-0.01 = 0.99005 (A = -1: inside).
  LossConfig cfg;
  cfg.ratio_level = "sequence";
  cfg.aggregation = LossAggregation::seq_mean_token_mean;
  at::Tensor mask = t({1, 1, 0, 1, 1, 1}).view({2, 3});
  Flat f = flat_of(mask);
  LossInputs in;
  in.logprobs = t({0.1f, 0.3f, -0.05f, 0.02f, 0.0f}).requires_grad_(true);
  in.old_logprobs = at::zeros({5});
  in.advantages = t({1, 1, -1, -1, -1});
  in.weights = f(aggregation_weights(mask, cfg));
  in.seq = f.seq;
  in.n_seq = 2;
  LossOutput out = policy_loss(in, cfg);
  const double s1 = std::exp(-0.01);
  CHECK(out.loss.item<double>() == Approx((-1.2 + s1) / 2).margin(1e-6));
  out.loss.backward();
  at::Tensor g = in.logprobs.grad();
  CHECK(g[0].item<double>() == 0.0);  // the clipped sequence gives no gradient to any of its tokens
  CHECK(g[1].item<double>() == 0.0);
  // d/dlp_t of (s / 2) = s / (2 |y|) for each token of sequence 1
  for (int i = 2; i < 5; ++i) CHECK(g[i].item<double>() == Approx(s1 / 6).margin(1e-6));
  CHECK(out.stats.clip_fraction == Approx(2.0 / 5));
}

TEST_CASE("CISPO: the capped importance weight scales the gradient and is never a gradient path (hand-computed)", "[cpu]") {
  // MiniMax-M1: J = sum_t sg(min(r_t, eps_max)) A log pi_t / |tokens|. A token far outside PPO's trust region
  // (r = 2) still gets gradient, scaled by the cap; PPO would give it none.
  LossConfig cfg;
  cfg.loss = "cispo";
  cfg.cispo_max = 1.5;
  at::Tensor old = t({-1.0f, -2.0f, -0.5f});
  at::Tensor lp = (old + at::log(t({2.0f, 1.1f, 0.6f}))).detach().requires_grad_(true);
  LossInputs in;
  in.logprobs = lp;
  in.old_logprobs = old;
  in.advantages = t({1.0f, 1.0f, -2.0f});
  in.weights = at::full({3}, 1.0f / 3);
  LossOutput out = policy_loss(in, cfg);
  const double lp0 = lp[0].item<double>(), lp1 = lp[1].item<double>(), lp2 = lp[2].item<double>();
  CHECK(out.loss.item<double>() == Approx(-(1.5 * lp0 + 1.1 * lp1 - 2 * 0.6 * lp2) / 3).margin(1e-6));
  out.loss.backward();
  CHECK(lp.grad()[0].item<double>() == Approx(-1.5 / 3).margin(1e-6));
  CHECK(lp.grad()[1].item<double>() == Approx(-1.1 / 3).margin(1e-6));
  CHECK(lp.grad()[2].item<double>() == Approx(2 * 0.6 / 3).margin(1e-6));
  CHECK(out.stats.clip_fraction == Approx(1.0 / 3));
}

TEST_CASE("loss of a 2-sequence batch equals the hand-computed value", "[cpu]") {
  // Sequence 0 (advantage +1) has 2 tokens, sequence 1 (advantage -0.5) has 3: token-mean over 5 tokens.
  at::Tensor mask = t({1, 1, 0, 1, 1, 1}).view({2, 3});
  LossConfig cfg;  // clip 0.2/0.2, token mean
  Flat f = flat_of(mask);
  // log-ratios: ratios 1.1, 1.3 (clipped at 1.2 for A>0), 0.9, 0.7 (clipped at 0.8 for A<0), 1.0
  LossInputs in;
  in.old_logprobs = t({-1.0f, -2.0f, -0.5f, -1.5f, -3.0f});
  in.logprobs = in.old_logprobs + at::log(t({1.1f, 1.3f, 0.9f, 0.7f, 1.0f}));
  in.advantages = t({1.0f, 1.0f, -0.5f, -0.5f, -0.5f});
  in.weights = f(aggregation_weights(mask, cfg));
  // Per token max(-A r, -A clip(r)): -1.1, -1.2, 0.45, 0.4, 0.5 -> mean = 0.05 / 5 = 0.01
  LossOutput out = policy_loss(in, cfg);
  CHECK(out.loss.item<double>() == Approx((-1.1 - 1.2 + 0.45 + 0.4 + 0.5) / 5).margin(1e-6));
  CHECK(out.stats.clip_fraction == Approx(2.0 / 5));
  CHECK(out.stats.clip_high_fraction == Approx(1.0 / 5));
  CHECK(out.stats.clip_low_fraction == Approx(1.0 / 5));

  // Sequence-mean: (mean(-1.1, -1.2) + mean(0.45, 0.4, 0.5)) / 2; sequence sum: (sum + sum) / 2
  cfg.aggregation = LossAggregation::seq_mean_token_mean;
  in.weights = f(aggregation_weights(mask, cfg));
  CHECK(policy_loss(in, cfg).loss.item<double>() == Approx(((-1.1 - 1.2) / 2 + (0.45 + 0.4 + 0.5) / 3) / 2).margin(1e-6));
  cfg.aggregation = LossAggregation::seq_sum;
  in.weights = f(aggregation_weights(mask, cfg));
  CHECK(policy_loss(in, cfg).loss.item<double>() == Approx((-1.1 - 1.2 + 0.45 + 0.4 + 0.5) / 2).margin(1e-6));
}

TEST_CASE("clipping zeroes the gradient outside the trust region, and the dual clip bounds negative advantages", "[cpu]") {
  LossConfig cfg;
  cfg.clip_low = 0.2;
  cfg.clip_high = 0.28;  // clip-higher
  // ratio r for tokens: (A>0, r=1.5) clipped; (A>0, r=1.1) inside; (A<0, r=0.5) clipped; (A<0, r=1.5) NOT
  // clipped (the pessimistic bound keeps the unclipped term); (A>0, r=0.5) not clipped.
  LossInputs in;
  in.advantages = t({1.0f, 1.0f, -1.0f, -1.0f, 1.0f});
  in.old_logprobs = at::zeros({5});
  in.logprobs = at::log(t({1.5f, 1.1f, 0.5f, 1.5f, 0.5f})).requires_grad_(true);
  in.weights = at::full({5}, 0.2f);
  policy_loss(in, cfg).loss.backward();
  at::Tensor g = in.logprobs.grad();
  CHECK(g[0].item<float>() == 0.0f);
  CHECK(g[2].item<float>() == 0.0f);
  // d/dlp of -A * exp(lp) * w = -A * r * w
  CHECK(g[1].item<float>() == Approx(-1.0 * 1.1 * 0.2));
  CHECK(g[3].item<float>() == Approx(1.0 * 1.5 * 0.2));
  CHECK(g[4].item<float>() == Approx(-1.0 * 0.5 * 0.2));
  // Just inside the clip-higher bound (1.27 < 1.28) the gradient flows.
  LossInputs one;
  one.logprobs = at::log(t({1.27f})).requires_grad_(true);
  one.old_logprobs = at::zeros({1});
  one.advantages = t({1.0f});
  one.weights = t({1.0f});
  policy_loss(one, cfg).loss.backward();
  CHECK(one.logprobs.grad()[0].item<float>() != 0.0f);

  // Dual clip (c = 3): A < 0 with r = 5 costs -A c, not -A r, and gives no gradient; r = 2 is untouched.
  cfg.dual_clip = 3.0;
  LossInputs neg;
  neg.logprobs = at::log(t({5.0f, 2.0f})).requires_grad_(true);
  neg.old_logprobs = at::zeros({2});
  neg.advantages = t({-1.0f, -1.0f});
  neg.weights = t({1.0f, 1.0f});
  LossOutput out = policy_loss(neg, cfg);
  CHECK(out.loss.item<double>() == Approx(3.0 + 2.0).margin(1e-5));
  out.loss.backward();
  CHECK(neg.logprobs.grad()[0].item<float>() == 0.0f);
  CHECK(neg.logprobs.grad()[1].item<float>() == Approx(2.0));
}

TEST_CASE("KL estimators against their formulas", "[cpu]") {
  LossInputs in;
  in.logprobs = t({-1.0f, -2.0f});
  in.old_logprobs = in.logprobs;
  in.ref_logprobs = t({-1.5f, -1.0f});
  in.advantages = at::zeros({2});
  in.weights = t({0.5f, 0.5f});
  LossConfig cfg;
  cfg.kl_coef = 0.1;
  for (std::string est : {"k1", "k2", "k3"}) {
    cfg.kl_estimator = est;
    double expect = 0;
    for (auto [a, b] : {std::pair{-1.0, -1.5}, std::pair{-2.0, -1.0}}) {
      double log_r = b - a;
      expect += est == "k1" ? -log_r : est == "k2" ? 0.5 * log_r * log_r : std::exp(log_r) - log_r - 1;
    }
    LossOutput out = policy_loss(in, cfg);  // ratio 1, advantage 0: only the KL term
    INFO(est);
    CHECK(out.loss.item<double>() == Approx(0.1 * expect / 2));
    CHECK(out.stats.kl == Approx(expect / 2));
  }
  cfg.kl_estimator = "k3";
  in.ref_logprobs = at::Tensor();
  REQUIRE_THROWS_WITH(policy_loss(in, cfg), Catch::Contains("ref_logprobs"));
}

TEST_CASE("importance weights rollout -> learner: truncated and masked, per token and per sequence", "[cpu]") {
  // Log-ratios learner - rollout: sequence 0: 0.1, 0.9 (r = 1.105, 2.460); sequence 1: -0.2 (r = 0.819).
  at::Tensor learner = t({0.1f, 0.9f, -0.2f}), rollout = at::zeros({3}), seq = at::tensor(std::vector<int64_t>{0, 0, 1});
  auto w = [&](const std::string& mode) { return importance_weights(learner, rollout, seq, 2, mode, 2.0); };
  at::Tensor tt = w("token_truncate"), tm = w("token_mask"), st = w("sequence_truncate"), sm = w("sequence_mask");
  CHECK(tt[0].item<double>() == Approx(std::exp(0.1)));
  CHECK(tt[1].item<double>() == Approx(2.0));
  CHECK(tm[1].item<double>() == 0.0);
  CHECK(tm[2].item<double>() == Approx(std::exp(-0.2)));
  // sequence 0: exp(0.1 + 0.9) = 2.718 > 2
  CHECK(st[0].item<double>() == Approx(2.0));
  CHECK(st[1].item<double>() == Approx(2.0));
  CHECK(sm[0].item<double>() == 0.0);
  CHECK(sm[2].item<double>() == Approx(std::exp(-0.2)));
  REQUIRE_THROWS_WITH(w("tokens"), Catch::Contains("token_truncate"));
}

TEST_CASE("loss settings are checked", "[cpu]") {
  LossConfig cfg;
  cfg.loss = "ppo";
  REQUIRE_THROWS_WITH(cfg.validate(), Catch::Contains("clip, cispo or sapo"));
  cfg = LossConfig();
  cfg.ratio_level = "seq";
  REQUIRE_THROWS_WITH(cfg.validate(), Catch::Contains("token or sequence"));
  cfg = LossConfig();
  cfg.dual_clip = 1.1;
  REQUIRE_THROWS_WITH(cfg.validate(), Catch::Contains("dual_clip"));
  cfg = LossConfig();
  cfg.is_correction = "tis";
  REQUIRE_THROWS_WITH(cfg.validate(), Catch::Contains("is_correction"));
  REQUIRE_THROWS_WITH(parse_loss_aggregation("mean"), Catch::Contains("seq_sum"));
}
