// The policy losses; see loss.h.
#include "rl/loss.h"

#include <algorithm>

#include <ATen/core/grad_mode.h>

#include "kernels/check.h"

namespace grpo::rl {

LossAggregation parse_loss_aggregation(const std::string& name) {
  if (name == "token_mean") return LossAggregation::token_mean;
  if (name == "seq_mean") return LossAggregation::seq_mean_token_mean;
  if (name == "constant") return LossAggregation::seq_mean_token_sum_norm;
  if (name == "seq_sum") return LossAggregation::seq_sum;
  GRPO_FAIL("unknown loss aggregation '", name, "'; known: token_mean, seq_mean, constant, seq_sum");
}

void LossConfig::validate() const {
  GRPO_CHECK(loss == "clip" || loss == "cispo" || loss == "sapo", "rl.loss must be clip, cispo or sapo, got '", loss,
             "'");
  GRPO_CHECK(ratio_level == "token" || ratio_level == "sequence", "rl.ratio_level must be token or sequence, got '",
             ratio_level, "'");
  GRPO_CHECK(clip_low > 0 && clip_low < 1, "rl.clip_low must be in (0, 1), got ", clip_low);
  GRPO_CHECK(clip_high > 0, "rl.clip_high must be > 0, got ", clip_high);
  GRPO_CHECK(dual_clip == 0 || dual_clip > 1 + clip_high, "rl.dual_clip must be 0 (off) or above 1 + clip_high, got ",
             dual_clip);
  GRPO_CHECK(cispo_max > 0, "rl.cispo_max must be > 0, got ", cispo_max);
  GRPO_CHECK(sapo_tau_pos > 0 && sapo_tau_neg > 0, "rl.sapo_tau_pos and rl.sapo_tau_neg must be > 0");
  GRPO_CHECK(kl_coef >= 0, "rl.kl_coef must be >= 0, got ", kl_coef);
  GRPO_CHECK(kl_estimator == "k1" || kl_estimator == "k2" || kl_estimator == "k3", "rl.kl_estimator must be k1, "
             "k2 or k3, got '", kl_estimator, "'");
  GRPO_CHECK(kl_placement == "loss" || kl_placement == "reward", "rl.kl_placement must be loss or reward, got '",
             kl_placement, "'");
  GRPO_CHECK(entropy_coef >= 0, "rl.entropy_coef must be >= 0, got ", entropy_coef);
  GRPO_CHECK(is_correction == "none" || is_correction == "token_truncate" || is_correction == "token_mask" ||
                 is_correction == "sequence_truncate" || is_correction == "sequence_mask",
             "rl.is_correction must be none, token_truncate, token_mask, sequence_truncate or sequence_mask, got '",
             is_correction, "'");
  GRPO_CHECK(is_cap > 0, "rl.is_cap must be > 0, got ", is_cap);
  GRPO_CHECK(constant_norm > 0, "rl.constant_norm must be > 0, got ", constant_norm);
}

at::Tensor aggregation_weights(const at::Tensor& mask, LossAggregation aggregation, double constant_norm,
                               double total_tokens, double total_rows) {
  at::Tensor m = mask.to(at::kFloat);
  const double n_seq = total_rows > 0 ? total_rows : static_cast<double>(m.size(0));
  switch (aggregation) {
    case LossAggregation::token_mean:
      return total_tokens > 0 ? m / std::max(1.0, total_tokens) : m / m.sum().clamp_min(1.0);
    case LossAggregation::seq_mean_token_mean: return m / (m.sum(1, true).clamp_min(1.0) * n_seq);
    case LossAggregation::seq_mean_token_sum_norm: return m / (constant_norm * n_seq);
    case LossAggregation::seq_sum: return m / n_seq;
  }
  GRPO_FAIL("unhandled loss aggregation");
}

at::Tensor segment_sum(const at::Tensor& x, const at::Tensor& seq, int64_t n_seq) {
  return at::zeros({n_seq}, x.options()).index_add(0, seq, x);
}

namespace {

// Mean of x over each token's sequence, broadcast back to the tokens: [M].
at::Tensor sequence_mean(const at::Tensor& x, const at::Tensor& seq, int64_t n_seq) {
  at::Tensor count = segment_sum(at::ones_like(x), seq, n_seq).clamp_min(1.0);
  return (segment_sum(x, seq, n_seq) / count).index_select(0, seq);
}

}  // namespace

at::Tensor kl_estimate(const at::Tensor& logprobs, const at::Tensor& ref_logprobs, const std::string& estimator) {
  at::Tensor log_r = ref_logprobs - logprobs;  // log(pi_ref / pi)
  if (estimator == "k1") return -log_r;
  if (estimator == "k2") return 0.5 * log_r * log_r;
  GRPO_CHECK(estimator == "k3", "unknown KL estimator '", estimator, "'; known: k1, k2, k3");
  return at::exp(log_r) - log_r - 1.0;
}

at::Tensor importance_weights(const at::Tensor& learner_old, const at::Tensor& rollout, const at::Tensor& seq,
                              int64_t n_seq, const std::string& mode, double cap) {
  GRPO_CHECK(cap > 0, "importance weight cap must be > 0, got ", cap);
  at::NoGradGuard no_grad;
  at::Tensor diff = (learner_old - rollout).to(at::kFloat);
  const bool sequence = mode == "sequence_truncate" || mode == "sequence_mask";
  GRPO_CHECK(sequence || mode == "token_truncate" || mode == "token_mask", "unknown importance-sampling mode '", mode,
             "'; known: token_truncate, token_mask, sequence_truncate, sequence_mask");
  if (sequence) diff = segment_sum(diff, seq, n_seq).index_select(0, seq);
  at::Tensor r = at::exp(diff);
  if (mode == "token_truncate" || mode == "sequence_truncate") return r.clamp_max(cap);
  return r.masked_fill(r > cap, 0.0);
}

LossOutput policy_loss(const LossInputs& in, const LossConfig& cfg) {
  const at::Tensor& lp = in.logprobs;
  GRPO_CHECK(lp.dim() == 1 && in.old_logprobs.sizes() == lp.sizes() && in.advantages.sizes() == lp.sizes() &&
                 in.weights.sizes() == lp.sizes(),
             "policy_loss: logprobs, old_logprobs, advantages and weights must be [M] alike");
  const at::Tensor& adv = in.advantages;
  at::Tensor log_ratio = lp - in.old_logprobs;
  if (cfg.ratio_level == "sequence") {
    GRPO_CHECK(in.seq.defined() && in.seq.sizes() == lp.sizes() && in.n_seq > 0,
               "policy_loss: ratio_level = sequence needs each token's row (seq) and n_seq");
    log_ratio = sequence_mean(log_ratio, in.seq, in.n_seq);
  }
  at::Tensor ratio = at::exp(log_ratio);
  at::Tensor pg, clipped_on, low_on, high_on;
  {
    at::NoGradGuard no_grad;
    at::Tensor r = ratio.detach();
    low_on = (r < 1.0 - cfg.clip_low) & (adv < 0);
    high_on = (r > 1.0 + cfg.clip_high) & (adv > 0);
  }
  if (cfg.loss == "clip") {
    at::Tensor r1 = cfg.dual_clip > 0 ? at::clamp_max(ratio, cfg.dual_clip) : ratio;
    at::Tensor unclipped = -adv * r1;
    at::Tensor clipped = -adv * at::clamp(ratio, 1.0 - cfg.clip_low, 1.0 + cfg.clip_high);
    pg = at::maximum(unclipped, clipped);
    at::NoGradGuard no_grad;
    clipped_on = clipped > unclipped;
  } else if (cfg.loss == "cispo") {
    at::Tensor w = at::clamp_max(ratio, cfg.cispo_max).detach();
    pg = -w * adv * lp;
    at::NoGradGuard no_grad;
    clipped_on = (ratio.detach() > cfg.cispo_max) & (adv > 0);
  } else {  // sapo
    at::Tensor tau = at::where(adv > 0, at::full_like(adv, cfg.sapo_tau_pos), at::full_like(adv, cfg.sapo_tau_neg));
    pg = -at::sigmoid(tau * (ratio - 1.0)) * 4.0 / tau * adv;
    at::NoGradGuard no_grad;
    clipped_on = low_on | high_on;
  }
  at::Tensor token_loss = in.is_weights.defined() ? pg * in.is_weights : pg;
  at::Tensor kl;
  if (cfg.kl_coef > 0 && cfg.kl_placement == "loss") {
    GRPO_CHECK(in.ref_logprobs.defined() && in.ref_logprobs.sizes() == lp.sizes(),
               "policy_loss: kl_coef > 0 needs ref_logprobs of the same shape");
    kl = kl_estimate(lp, in.ref_logprobs, cfg.kl_estimator);
    token_loss = token_loss + cfg.kl_coef * kl;
  }
  LossOutput out;
  out.loss = (token_loss * in.weights).sum();
  if (cfg.entropy_coef > 0) {
    GRPO_CHECK(in.entropy.defined() && in.entropy_weights.defined(),
               "policy_loss: entropy_coef > 0 needs entropy and entropy_weights");
    out.loss = out.loss - cfg.entropy_coef * (in.entropy * in.entropy_weights).sum();
  }
  {
    at::NoGradGuard no_grad;
    at::Tensor on = (in.weights != 0).to(at::kFloat);
    const double n = std::max(1.0, on.sum().item<double>());
    auto share = [&](const at::Tensor& b) { return (b.to(at::kFloat) * on).sum().item<double>() / n; };
    out.stats.clip_fraction = share(clipped_on);
    out.stats.clip_low_fraction = share(low_on);
    out.stats.clip_high_fraction = share(high_on);
    out.stats.ratio_mean = (ratio.detach() * on).sum().item<double>() / n;
    out.stats.pg_loss = (pg.detach() * in.weights).sum().item<double>();
    if (kl.defined()) out.stats.kl = (kl.detach() * on).sum().item<double>() / n;
  }
  return out;
}

}  // namespace grpo::rl
