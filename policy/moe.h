// The sparse MoE feed-forward block: router -> top-k -> tokens grouped by expert -> SwiGLU experts -> weighted
// combine (+ shared experts), and the Switch/Mixtral load-balancing loss over its router logits. Routers:
// softmax + top-k (Qwen3-MoE, Mixtral, OLMoE, DeepSeek-V2 greedy), DeepSeek-V2's group-limited greedy, and
// DeepSeek-V3's sigmoid scores with a selection-only bias and group-limited top-k (noaux_tc). Experts run only on
// the tokens routed to them (no dense all-expert compute).
#pragma once

#include <utility>
#include <vector>

#include "policy/layers.h"
#include "policy/model_config.h"

namespace grpo::policy {

struct MoEOutput {
  at::Tensor y;              // [T, C]
  at::Tensor router_logits;  // [T, E], pre-softmax (for the load-balancing loss)
  at::Tensor expert_counts;  // [E] int64 on CPU: tokens routed to each expert (counting all K choices)
  at::Tensor experts;        // [T, K] int64: the experts each token was routed to
  int64_t replay_mismatch = 0;  // with forced routes: tokens whose own top-k set differs from the forced one
};

struct MoEImpl : torch::nn::Module {
  explicit MoEImpl(const ModelConfig& cfg, const at::TensorOptions& opts = {});
  // x: [T, C]. forced (routing replay): [T, K] int64 expert ids to use instead of the router's choice, a row of -1
  // where the router chooses; the weights are the router's scores at the forced experts, normalised as usual, so the
  // router still gets its gradient.
  MoEOutput forward(const at::Tensor& x, const at::Tensor& forced = at::Tensor()) const;

  // Routing weights [T, K] (in x's dtype) and expert ids [T, K] from router logits [T, E].
  std::pair<at::Tensor, at::Tensor> route(const at::Tensor& logits, at::ScalarType dtype,
                                          const at::Tensor& forced = at::Tensor()) const;

  // DeepSeek-V3's auxiliary-loss-free balancing (Wang et al. 2024): bias += rate * sign(mean load - load), with
  // `load` the tokens routed to each expert ([E], any device). Only for routers with a score bias.
  void update_router_bias(const at::Tensor& load, double rate);

  ModelConfig cfg;
  Linear gate{nullptr};              // router, [E, C]
  at::Tensor score_bias;             // gate.e_score_correction_bias [E] float32 buffer (noaux_tc), else undefined
  std::vector<SwiGLU> expert_list;   // registered as experts.{j}
  SwiGLU shared_experts{nullptr};    // DeepSeek's always-on experts, or null
};
TORCH_MODULE(MoE);

// Switch load-balancing loss over all MoE layers (HF load_balancing_loss_func):
// aux = E * sum_e (tokens choosing e / T') * mean_t softmax(logits)[t, e], T' = tokens over all layers.
// router_logits: per layer [T, E]; token_mask: [T] bool/float (1 = real token) or undefined for all tokens.
// Uniform routing gives aux = K.
at::Tensor load_balancing_loss(const std::vector<at::Tensor>& router_logits, int64_t n_expert_used,
                               const at::Tensor& token_mask);

}  // namespace grpo::policy
