// The GRPO policy loss: per-token ratio to the rollout (old) policy, PPO clipping with separate low/high
// epsilons (DAPO clip-higher), optional KL to a frozen reference (k1, k2 or k3 estimator), aggregated by
// per-token weights that encode token-mean, sequence-mean or a constant normaliser. Pure tensor math.
#pragma once

#include <string>

#include <ATen/ATen.h>

namespace grpo::rl {

enum class LossAggregation { token_mean, seq_mean_token_mean, seq_mean_token_sum_norm };
LossAggregation parse_loss_aggregation(const std::string& name);  // "token_mean", "seq_mean", "constant"

struct LossConfig {
  double clip_low = 0.2;    // ratio floor 1 - clip_low (PPO, Schulman et al. 2017)
  double clip_high = 0.2;   // ratio ceiling 1 + clip_high (DAPO uses 0.28)
  double kl_coef = 0.0;     // beta of the KL penalty to the reference model; 0 = off (DAPO, Dr. GRPO)
  std::string kl_estimator = "k3";  // k1: log r, k2: (log r)^2 / 2, k3: r - 1 - log r (Schulman 2020)
  LossAggregation aggregation = LossAggregation::token_mean;  // DAPO token-mean
  double constant_norm = 1.0;  // seq_mean_token_sum_norm: tokens are summed and divided by this (Dr. GRPO)
  void validate() const;
};

// Per-token weights [N, L] summing the loss the way `aggregation` says; mask: [N, L] (1 = completion token).
// token_mean: mask / sum(mask); seq_mean_token_mean: mask / (len_n * N); seq_mean_token_sum_norm:
// mask / (constant_norm * N). Computed over the whole batch, before splitting into micro-batches.
at::Tensor aggregation_weights(const at::Tensor& mask, const LossConfig& cfg);

struct LossStats {
  double clip_fraction = 0;  // share of tokens whose clipped term was the active one
  double ratio_mean = 0;
  double kl = 0;             // mean per-token KL estimate to the reference (0 when off)
  double pg_loss = 0;
};

struct LossOutput {
  at::Tensor loss;  // scalar, differentiable w.r.t. logprobs
  LossStats stats;  // weighted by the token weights' mask
};

// All inputs are flat over the M tokens that carry loss: logprobs (differentiable), old_logprobs,
// advantages (per token: its sequence's advantage), weights (from aggregation_weights), ref_logprobs
// (undefined when kl_coef == 0). Token loss: max(-A r, -A clip(r, 1-lo, 1+hi)) + kl_coef * KL.
LossOutput policy_loss(const at::Tensor& logprobs, const at::Tensor& old_logprobs, const at::Tensor& advantages,
                       const at::Tensor& weights, const at::Tensor& ref_logprobs, const LossConfig& cfg);

}  // namespace grpo::rl
