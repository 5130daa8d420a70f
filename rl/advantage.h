// Group-relative advantages: pure functions over rewards grouped by prompt (no model, no I/O).
// GRPO (Shao et al. 2024): A = (r - mean_group) / (std_group + eps); Dr. GRPO (Liu et al. 2025): A = r - mean.
#pragma once

#include <string>

#include <ATen/ATen.h>

namespace grpo::rl {

struct AdvantageConfig {
  bool scale_by_std = true;  // false = Dr. GRPO (no std normalisation)
  std::string std_scope = "group";  // the std that scales: each group's (GRPO), or the whole batch's (TRL's
                                    // scale_rewards = "batch": less noisy for small G)
  double eps = 1e-6;         // added to the std; all-equal groups get exactly 0
};

struct AdvantageResult {
  at::Tensor advantages;       // [B, G] float32
  at::Tensor zero_variance;    // [B] bool: every sample of the group got the same reward
  int64_t n_zero_variance = 0;
};

// rewards: [B, G] (G >= 2). The std is the unbiased sample std over each group (as TRL and verl), or over all B x G
// rewards with std_scope = batch.
AdvantageResult compute_group_advantages(const at::Tensor& rewards, const AdvantageConfig& cfg);

// Marks as zero-variance (advantages 0) every group whose verifier verdicts are all equal, all right or all wrong,
// even when shaping terms made their rewards differ: such a group teaches only the shaping. correct: [B, G] bool.
void mark_verifier_ties(AdvantageResult& adv, const at::Tensor& correct);

}  // namespace grpo::rl
