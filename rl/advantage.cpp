// Group-relative advantages; see advantage.h.
#include "rl/advantage.h"

#include "kernels/check.h"

namespace grpo::rl {

AdvantageResult compute_group_advantages(const at::Tensor& rewards, const AdvantageConfig& cfg) {
  GRPO_CHECK(rewards.dim() == 2 && rewards.size(1) >= 2, "advantages need rewards [B, G] with G >= 2, got ",
             rewards.sizes());
  at::Tensor r = rewards.to(at::kDouble);
  at::Tensor mean = r.mean(1, /*keepdim=*/true);
  at::Tensor centered = r - mean;
  AdvantageResult out;
  // NOTE: equal rewards are detected exactly (max == min), not by a small std, so the report is honest.
  out.zero_variance = std::get<0>(r.max(1)) == std::get<0>(r.min(1));
  out.n_zero_variance = out.zero_variance.sum().item<int64_t>();
  GRPO_CHECK(cfg.std_scope == "group" || cfg.std_scope == "batch", "rl.std_scope must be group or batch, got '",
             cfg.std_scope, "'");
  if (cfg.scale_by_std) {
    at::Tensor std = cfg.std_scope == "group" ? r.std(1, /*unbiased=*/true, /*keepdim=*/true) : r.std();
    centered = centered / (std + cfg.eps);
  }
  out.advantages = centered.masked_fill(out.zero_variance.unsqueeze(1), 0.0).to(at::kFloat);
  return out;
}

void mark_verifier_ties(AdvantageResult& adv, const at::Tensor& correct) {
  GRPO_CHECK(correct.dim() == 2 && correct.sizes() == adv.advantages.sizes(), "mark_verifier_ties: correct ",
             correct.sizes(), " does not match the advantages ", adv.advantages.sizes());
  at::Tensor c = correct.to(at::kBool);
  const at::Tensor tied = c.all(1) | (~c).all(1);
  adv.zero_variance = adv.zero_variance | tied;
  adv.n_zero_variance = adv.zero_variance.sum().item<int64_t>();
  adv.advantages = adv.advantages.masked_fill(adv.zero_variance.unsqueeze(1), 0.0);
}

}  // namespace grpo::rl
