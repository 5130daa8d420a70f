// The sparse MoE feed-forward block of Qwen3-MoE: softmax router -> top-k -> tokens grouped by expert ->
// SwiGLU experts -> weighted combine, and the Switch/Mixtral load-balancing loss over its router logits.
// Experts run only on the tokens routed to them (no dense all-expert compute).
#pragma once

#include <vector>

#include "policy/layers.h"
#include "policy/model_config.h"

namespace grpo::policy {

struct MoEOutput {
  at::Tensor y;              // [T, C]
  at::Tensor router_logits;  // [T, E], pre-softmax (for the load-balancing loss)
  at::Tensor expert_counts;  // [E] int64 on CPU: tokens routed to each expert (counting all K choices)
};

struct MoEImpl : torch::nn::Module {
  explicit MoEImpl(const ModelConfig& cfg);
  MoEOutput forward(const at::Tensor& x) const;  // x: [T, C]

  int64_t n_expert, n_expert_used;
  bool norm_topk_prob;
  Linear gate{nullptr};              // router, [E, C]
  std::vector<SwiGLU> expert_list;   // registered as experts.{j}
};
TORCH_MODULE(MoE);

// Switch load-balancing loss over all MoE layers (HF load_balancing_loss_func):
// aux = E * sum_e (tokens choosing e / T') * mean_t softmax(logits)[t, e], T' = tokens over all layers.
// router_logits: per layer [T, E]; token_mask: [T] bool/float (1 = real token) or undefined for all tokens.
// Uniform routing gives aux = K.
at::Tensor load_balancing_loss(const std::vector<at::Tensor>& router_logits, int64_t n_expert_used,
                               const at::Tensor& token_mask);

}  // namespace grpo::policy
