// The clipped policy-gradient loss; see loss.h.
#include "rl/loss.h"

#include <ATen/core/grad_mode.h>

#include "kernels/check.h"

namespace grpo::rl {

LossAggregation parse_loss_aggregation(const std::string& name) {
  if (name == "token_mean") return LossAggregation::token_mean;
  if (name == "seq_mean") return LossAggregation::seq_mean_token_mean;
  if (name == "constant") return LossAggregation::seq_mean_token_sum_norm;
  GRPO_FAIL("unknown loss aggregation '", name, "'; known: token_mean, seq_mean, constant");
}

void LossConfig::validate() const {
  GRPO_CHECK(clip_low > 0 && clip_low < 1, "rl.clip_low must be in (0, 1), got ", clip_low);
  GRPO_CHECK(clip_high > 0, "rl.clip_high must be > 0, got ", clip_high);
  GRPO_CHECK(kl_coef >= 0, "rl.kl_coef must be >= 0, got ", kl_coef);
  GRPO_CHECK(kl_estimator == "k1" || kl_estimator == "k2" || kl_estimator == "k3", "rl.kl_estimator must be k1, "
             "k2 or k3, got '", kl_estimator, "'");
  GRPO_CHECK(constant_norm > 0, "rl.constant_norm must be > 0, got ", constant_norm);
}

at::Tensor aggregation_weights(const at::Tensor& mask, const LossConfig& cfg) {
  at::Tensor m = mask.to(at::kFloat);
  const double n_seq = static_cast<double>(m.size(0));
  switch (cfg.aggregation) {
    case LossAggregation::token_mean: return m / m.sum().clamp_min(1.0);
    case LossAggregation::seq_mean_token_mean: return m / (m.sum(1, true).clamp_min(1.0) * n_seq);
    case LossAggregation::seq_mean_token_sum_norm: return m / (cfg.constant_norm * n_seq);
  }
  GRPO_FAIL("unhandled loss aggregation");
}

LossOutput policy_loss(const at::Tensor& logprobs, const at::Tensor& old_logprobs, const at::Tensor& advantages,
                       const at::Tensor& weights, const at::Tensor& ref_logprobs, const LossConfig& cfg) {
  GRPO_CHECK(logprobs.sizes() == old_logprobs.sizes() && logprobs.sizes() == advantages.sizes() &&
                 logprobs.sizes() == weights.sizes(),
             "policy_loss: logprobs, old_logprobs, advantages and weights must have one shape");
  at::Tensor ratio = at::exp(logprobs - old_logprobs);
  at::Tensor unclipped = -advantages * ratio;
  at::Tensor clipped = -advantages * at::clamp(ratio, 1.0 - cfg.clip_low, 1.0 + cfg.clip_high);
  at::Tensor pg = at::maximum(unclipped, clipped);
  at::Tensor token_loss = pg;
  at::Tensor kl;
  if (cfg.kl_coef > 0) {
    GRPO_CHECK(ref_logprobs.defined() && ref_logprobs.sizes() == logprobs.sizes(),
               "policy_loss: kl_coef > 0 needs ref_logprobs of the same shape");
    at::Tensor log_r = ref_logprobs - logprobs;  // log(pi_ref / pi)
    if (cfg.kl_estimator == "k1") {
      kl = -log_r;
    } else if (cfg.kl_estimator == "k2") {
      kl = 0.5 * log_r * log_r;
    } else {
      kl = at::exp(log_r) - log_r - 1.0;
    }
    token_loss = token_loss + cfg.kl_coef * kl;
  }
  LossOutput out;
  out.loss = (token_loss * weights).sum();
  {
    at::NoGradGuard no_grad;
    at::Tensor on = (weights != 0).to(at::kFloat);
    const double n = std::max(1.0, on.sum().item<double>());
    out.stats.clip_fraction = ((clipped > unclipped).to(at::kFloat) * on).sum().item<double>() / n;
    out.stats.ratio_mean = (ratio.detach() * on).sum().item<double>() / n;
    out.stats.pg_loss = (pg.detach() * weights).sum().item<double>();
    if (kl.defined()) out.stats.kl = (kl.detach() * on).sum().item<double>() / n;
  }
  return out;
}

}  // namespace grpo::rl
