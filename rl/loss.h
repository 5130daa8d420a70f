// The policy losses of GRPO and its successors, as pure tensor math over the tokens that carry loss:
//   clip   PPO's clipped ratio (Schulman et al. 2017) with separate low/high epsilons (DAPO clip-higher) and an
//          optional dual clip (Ye et al. 2020; TRL's `delta`): GRPO, DAPO, Dr. GRPO;
//   cispo  the clipped importance weight, stop-gradient, times A log pi (MiniMax-M1, 2025);
//   sapo   a soft sigmoid gate on the ratio instead of a hard clip (SAPO; TRL's `sapo`).
// The ratio is per token or per sequence (GSPO, Zheng et al. 2025: exp of the mean token log-ratio). Optional KL
// to a frozen reference (k1, k2 or k3), rollout-to-learner importance weights (truncated / masked IS), and an
// entropy bonus. Aggregation is carried by per-token weights (token mean, sequence mean, constant, sequence sum),
// computed over the whole batch before it is split into micro-batches.
#pragma once

#include <string>

#include <ATen/ATen.h>

namespace grpo::rl {

enum class LossAggregation { token_mean, seq_mean_token_mean, seq_mean_token_sum_norm, seq_sum };
// "token_mean" (DAPO; TRL dapo, cispo, bnpo), "seq_mean" (GRPO), "constant" (Dr. GRPO), "seq_sum" (TRL luspo)
LossAggregation parse_loss_aggregation(const std::string& name);

struct LossConfig {
  std::string loss = "clip";      // clip, cispo or sapo
  std::string ratio_level = "token";  // token, or sequence (GSPO: one ratio per sequence)
  double clip_low = 0.2;          // ratio floor 1 - clip_low
  double clip_high = 0.2;         // ratio ceiling 1 + clip_high (DAPO: 0.28)
  double dual_clip = 0.0;         // > 1: caps the unclipped ratio at this value (bounds -A r for A < 0); 0 = off
  double cispo_max = 5.0;         // cispo: the importance weight is min(r, cispo_max), no gradient through it
  double sapo_tau_pos = 1.0;      // sapo: gate temperature for A > 0
  double sapo_tau_neg = 1.05;     // sapo: gate temperature for A <= 0
  double kl_coef = 0.0;           // beta of the KL penalty to the reference model; 0 = off (DAPO, Dr. GRPO)
  std::string kl_estimator = "k3";  // k1: log(pi/ref), k2: (log r)^2 / 2, k3: r - 1 - log r with r = ref/pi
  std::string kl_placement = "loss";  // loss: beta * KL per token in the loss (GRPO); reward: beta * the sequence's
                                      // summed KL subtracted from its reward before advantages (PPO-RLHF style)
  double entropy_coef = 0.0;      // entropy bonus: loss -= entropy_coef * (token-mean entropy)
  std::string is_correction = "none";  // rollout -> learner importance weights: none, token_truncate, token_mask,
                                       // sequence_truncate or sequence_mask (see importance_weights)
  double is_cap = 2.0;            // their cap (TIS uses 2)
  LossAggregation aggregation = LossAggregation::token_mean;
  double constant_norm = 1.0;     // seq_mean_token_sum_norm: tokens are summed and divided by this (Dr. GRPO)
  void validate() const;
};

// Per-token weights [N, L] summing the loss the way `aggregation` says; mask: [N, L] (1 = a token with loss).
// token_mean: mask / sum(mask); seq_mean_token_mean: mask / (len_n * N); seq_mean_token_sum_norm:
// mask / (constant_norm * N); seq_sum: mask / N.
// total_tokens / total_rows: the whole global batch's (all ranks), when the mask is one rank's share; <= 0 = this mask's.
at::Tensor aggregation_weights(const at::Tensor& mask, LossAggregation aggregation, double constant_norm = 1.0,
                               double total_tokens = 0, double total_rows = 0);
inline at::Tensor aggregation_weights(const at::Tensor& mask, const LossConfig& cfg) {
  return aggregation_weights(mask, cfg.aggregation, cfg.constant_norm);
}

// Everything flat over the M tokens that carry loss in one micro-batch.
struct LossInputs {
  at::Tensor logprobs;      // [M] the learner's, differentiable
  at::Tensor old_logprobs;  // [M] the behaviour policy's (the rollout's, or the learner's at rollout time)
  at::Tensor advantages;    // [M] each token's sequence advantage
  at::Tensor weights;       // [M] from aggregation_weights
  at::Tensor seq;           // [M] int64 row of each token within the micro-batch; needed for ratio_level = sequence
  int64_t n_seq = 0;        // rows in the micro-batch
  at::Tensor ref_logprobs;  // [M] when kl_coef > 0
  at::Tensor is_weights;    // [M] importance weights rollout -> learner (importance_weights), or undefined
  at::Tensor entropy;       // [M] differentiable entropies, when entropy_coef > 0
  at::Tensor entropy_weights;  // [M] token-mean weights of the entropy bonus, when entropy_coef > 0
};

struct LossStats {
  double clip_fraction = 0;  // share of tokens whose clipped term was the active one (cispo: weight capped)
  double clip_low_fraction = 0, clip_high_fraction = 0;  // TRL's region split: r < 1-lo with A < 0; r > 1+hi, A > 0
  double ratio_mean = 0;
  double kl = 0;             // mean per-token KL estimate to the reference (0 when off)
  double pg_loss = 0;        // the policy term alone, aggregated
};

struct LossOutput {
  at::Tensor loss;  // scalar, differentiable w.r.t. logprobs (and entropy)
  LossStats stats;  // means over the tokens with nonzero weight
};

LossOutput policy_loss(const LossInputs& in, const LossConfig& cfg);

// Per-token KL estimate of pi from the reference, from log-probs of sampled tokens: k1 = log pi - log ref,
// k2 = (log ref - log pi)^2 / 2, k3 = ref/pi - 1 - log(ref/pi) (Schulman 2020; k3 is unbiased and >= 0).
at::Tensor kl_estimate(const at::Tensor& logprobs, const at::Tensor& ref_logprobs, const std::string& estimator);

// Importance weights between the rollout engine's log-probs and the learner's for the same tokens (the two
// differ: other kernels, dtypes, or a stale policy). mode: "token_truncate" min(r, cap) (TIS, Yao et al. 2025),
// "token_mask" r where r <= cap else 0 (MIS), "sequence_truncate" / "sequence_mask" the same on the sequence's
// exp(sum of token log-ratios). learner_old, rollout: [M]; seq: [M] rows; returns [M], no gradient.
at::Tensor importance_weights(const at::Tensor& learner_old, const at::Tensor& rollout, const at::Tensor& seq,
                              int64_t n_seq, const std::string& mode, double cap);

// Per-row sum of x over tokens: [M] values, [M] rows in [0, n_seq) -> [n_seq].
at::Tensor segment_sum(const at::Tensor& x, const at::Tensor& seq, int64_t n_seq);

}  // namespace grpo::rl
