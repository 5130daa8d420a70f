// MoE block and load-balancing loss; see moe.h.
#include "policy/moe.h"

#include <limits>
#include <string>

#include <ATen/core/grad_mode.h>

#include "kernels/check.h"
#include "policy/device.h"

namespace grpo::policy {

MoEImpl::MoEImpl(const ModelConfig& c, const at::TensorOptions& opts) : cfg(c) {
  gate = register_module("gate", Linear(c.n_embd, c.n_expert, false, opts));
  if (c.router_bias()) {
    // A buffer, not a parameter: the optimizer never touches it (HF registers it the same way).
    score_bias = gate->register_buffer("e_score_correction_bias", at::zeros({c.n_expert}, opts.dtype(at::kFloat)));
  }
  auto experts = register_module("experts", std::make_shared<torch::nn::Module>());
  for (int64_t j = 0; j < c.n_expert; ++j) {
    expert_list.push_back(experts->register_module(
        std::to_string(j),
        SwiGLU(c.n_embd, c.n_ff_expert, opts, c.info().expert_gate, c.info().expert_up, c.info().expert_down)));
  }
  if (c.n_shared_expert > 0) {
    shared_experts = register_module("shared_experts", SwiGLU(c.n_embd, c.n_shared_expert * c.n_ff_expert, opts));
  }
}

std::pair<at::Tensor, at::Tensor> MoEImpl::route(const at::Tensor& logits, at::ScalarType dtype,
                                                 const at::Tensor& forced) const {
  const int64_t T = logits.size(0), E = cfg.n_expert, K = cfg.n_expert_used;
  at::Tensor scores = cfg.router_score == RouterScore::Sigmoid ? logits.to(at::kFloat).sigmoid()
                                                               : at::softmax(logits, -1, at::kFloat);
  at::Tensor choice = scores;
  if (cfg.topk_method != TopkMethod::Greedy) {
    const int64_t G = cfg.n_group;
    if (cfg.topk_method == TopkMethod::GroupTop2Bias) choice = scores + score_bias;
    at::Tensor grouped = choice.view({T, G, E / G});
    at::Tensor group_scores = cfg.topk_method == TopkMethod::GroupMax
                                  ? std::get<0>(grouped.max(-1))
                                  : std::get<0>(grouped.topk(2, -1)).sum(-1);  // [T, G]
    at::Tensor keep = at::zeros_like(group_scores, at::kBool)
                          .scatter_(1, std::get<1>(group_scores.topk(cfg.topk_group, -1)), true);
    at::Tensor mask = keep.unsqueeze(-1).expand({T, G, E / G}).reshape({T, E});
    // V3 masks with -inf (official code), V2 with 0 (HF DeepseekV2TopkRouter).
    choice = choice.masked_fill(mask.logical_not(), cfg.topk_method == TopkMethod::GroupMax
                                                         ? 0.0
                                                         : -std::numeric_limits<float>::infinity());
  }
  at::Tensor idx = std::get<1>(choice.topk(K, -1));
  at::Tensor weight_src = cfg.topk_method == TopkMethod::GroupMax ? choice : scores;
  if (forced.defined()) {
    GRPO_CHECK(forced.dim() == 2 && forced.size(0) == T && forced.size(1) == K, "routing replay: forced routes must "
               "be [", T, ", ", K, "], got ", forced.sizes());
    at::Tensor f = forced.to(idx.device(), at::kLong);
    idx = at::where(f >= 0, f, idx);
    weight_src = scores;  // a replayed expert may lie outside this router's kept groups
  }
  // The weights come from the unbiased scores (noaux_tc's bias only steers the selection).
  at::Tensor w = weight_src.gather(1, idx);
  if (cfg.norm_topk_prob) {
    w = cfg.router_score == RouterScore::Sigmoid ? w / (w.sum(-1, true) + 1e-20) : w / w.sum(-1, true);
  }
  if (cfg.routed_scaling_factor != 1.0) w = w * cfg.routed_scaling_factor;
  return {w.to(dtype), idx};
}

void MoEImpl::update_router_bias(const at::Tensor& load, double rate) {
  GRPO_CHECK(score_bias.defined(), "update_router_bias: this router (", cfg.model_type,
             ") has no e_score_correction_bias; hint: the bias update is DeepSeek-V3's noaux_tc balancing");
  at::NoGradGuard no_grad;
  at::Tensor l = load.to(score_bias.device(), at::kFloat);
  score_bias.add_(at::sign(l.mean() - l) * rate);
}

MoEOutput MoEImpl::forward(const at::Tensor& x, const at::Tensor& forced) const {
  const int64_t T = x.size(0), K = cfg.n_expert_used, n_expert = cfg.n_expert;
  // Router math in fp32 (HF computes the DeepSeek router's linear in fp32 as well).
  at::Tensor logits;  // [T,E]
  if (cfg.router_score == RouterScore::Sigmoid) {
    NoAutocastGuard fp32;  // the learner's autocast would run this product in bf16, the rollout in fp32
    logits = at::linear(x.to(at::kFloat), gate->weight.to(at::kFloat));
  } else {
    logits = gate->forward(x);
  }
  auto [top_w, top_i] = route(logits, x.scalar_type(), forced);
  int64_t mismatch = 0;
  if (forced.defined()) {
    at::NoGradGuard no_grad;
    at::Tensor own = std::get<0>(std::get<1>(route(logits.detach(), x.scalar_type())).sort(1));
    at::Tensor used = std::get<0>(top_i.sort(1));
    mismatch = (own != used).any(1).sum().item<int64_t>();
  }

  // Group the T*K (token, expert) pairs by expert: a stable sort keeps tokens in order inside each expert.
  at::Tensor flat_expert = top_i.reshape({-1});
  at::Tensor order = std::get<1>(flat_expert.sort(/*stable=*/true, /*dim=*/0, /*descending=*/false));
  at::Tensor token_of = at::div(order, K, "floor");
  at::Tensor weight_of = top_w.reshape({-1}).index_select(0, order);
  // NOTE: counted with index_add_, not bincount, whose CUDA kernel reads min and max back first: one device read.
  at::Tensor counts = at::zeros({n_expert}, flat_expert.options())
                          .index_add_(0, flat_expert, at::ones_like(flat_expert))
                          .to(at::kCPU);
  const int64_t* count = counts.data_ptr<int64_t>();

  at::Tensor y = at::zeros_like(x);
  int64_t offset = 0;
  for (int64_t e = 0; e < n_expert; ++e) {
    const int64_t n = count[e];
    if (n == 0) continue;
    at::Tensor tok = token_of.narrow(0, offset, n);
    at::Tensor out = expert_list[static_cast<size_t>(e)]->forward(x.index_select(0, tok));
    y.index_add_(0, tok, out * weight_of.narrow(0, offset, n).unsqueeze(1));
    offset += n;
  }
  GRPO_CHECK(offset == T * K, "MoE routed ", offset, " of ", T * K, " token slots");
  if (shared_experts) y = y + shared_experts->forward(x);
  return {y, logits, counts, top_i, mismatch};
}

at::Tensor load_balancing_loss(const std::vector<at::Tensor>& router_logits, int64_t n_expert_used,
                               const at::Tensor& token_mask) {
  GRPO_CHECK(!router_logits.empty(), "load_balancing_loss needs the router logits of at least one MoE layer");
  at::Tensor logits = at::cat(router_logits, 0);  // [T', E]
  const int64_t E = logits.size(1);
  at::Tensor probs = at::softmax(logits, -1, at::kFloat);
  at::Tensor chosen = at::zeros_like(probs).scatter_(1, std::get<1>(probs.topk(n_expert_used, -1)), 1.0);
  if (token_mask.defined()) {
    at::Tensor m = token_mask.reshape({-1}).to(at::kFloat).repeat({static_cast<int64_t>(router_logits.size())});
    m = m.unsqueeze(1);
    at::Tensor n = m.sum().clamp_min(1.0);
    return E * ((chosen * m).sum(0) / n * (probs * m).sum(0) / n).sum();
  }
  return E * (chosen.mean(0) * probs.mean(0)).sum();
}

}  // namespace grpo::policy
