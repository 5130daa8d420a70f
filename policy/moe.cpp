// MoE block and load-balancing loss; see moe.h.
#include "policy/moe.h"

#include <string>

#include "kernels/check.h"

namespace grpo::policy {

MoEImpl::MoEImpl(const ModelConfig& cfg)
    : n_expert(cfg.n_expert), n_expert_used(cfg.n_expert_used), norm_topk_prob(cfg.norm_topk_prob) {
  gate = register_module("gate", Linear(cfg.n_embd, n_expert));
  auto experts = register_module("experts", std::make_shared<torch::nn::Module>());
  for (int64_t j = 0; j < n_expert; ++j) {
    expert_list.push_back(experts->register_module(std::to_string(j), SwiGLU(cfg.n_embd, cfg.n_ff_expert)));
  }
}

MoEOutput MoEImpl::forward(const at::Tensor& x) const {
  const int64_t T = x.size(0), K = n_expert_used;
  at::Tensor logits = gate->forward(x);                     // [T,E]
  at::Tensor probs = at::softmax(logits, -1, at::kFloat);  // router math in fp32
  auto [top_w, top_i] = probs.topk(K, -1);                  // [T,K]
  if (norm_topk_prob) top_w = top_w / top_w.sum(-1, /*keepdim=*/true);
  top_w = top_w.to(x.scalar_type());

  // Group the T*K (token, expert) pairs by expert: a stable sort keeps tokens in order inside each expert.
  at::Tensor flat_expert = top_i.reshape({-1});
  at::Tensor order = std::get<1>(flat_expert.sort(/*stable=*/true, /*dim=*/0, /*descending=*/false));
  at::Tensor token_of = at::div(order, K, "floor");
  at::Tensor weight_of = top_w.reshape({-1}).index_select(0, order);
  at::Tensor counts = at::bincount(flat_expert, {}, n_expert).to(at::kCPU);
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
  return {y, logits, counts};
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
