// Grouped-query attention: the full causal path and the KV-cache decode path; see attention.h.
#include "policy/attention.h"

#include <cmath>
#include <limits>

#include "kernels/check.h"

namespace grpo::policy {

KVCache KVCache::allocate(const ModelConfig& cfg, int64_t n_slot, int64_t t_max, const at::TensorOptions& opts) {
  KVCache c;
  for (int64_t l = 0; l < cfg.n_layer; ++l) {
    c.k.push_back(at::zeros({n_slot, t_max, cfg.n_kv_head, cfg.head_dim}, opts));
    c.v.push_back(at::zeros({n_slot, t_max, cfg.n_kv_head, cfg.head_dim}, opts));
  }
  return c;
}

AttentionImpl::AttentionImpl(const ModelConfig& cfg)
    : n_head(cfg.n_head),
      n_kv_head(cfg.n_kv_head),
      head_dim(cfg.head_dim),
      scale(1.0 / std::sqrt(static_cast<double>(cfg.head_dim))) {
  q_proj = register_module("q_proj", Linear(cfg.n_embd, n_head * head_dim));
  k_proj = register_module("k_proj", Linear(cfg.n_embd, n_kv_head * head_dim));
  v_proj = register_module("v_proj", Linear(cfg.n_embd, n_kv_head * head_dim));
  o_proj = register_module("o_proj", Linear(n_head * head_dim, cfg.n_embd));
  q_norm = register_module("q_norm", RMSNorm(head_dim, cfg.rms_norm_eps));
  k_norm = register_module("k_norm", RMSNorm(head_dim, cfg.rms_norm_eps));
}

void AttentionImpl::project(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin, at::Tensor& q,
                            at::Tensor& k, at::Tensor& v) const {
  auto lead = x.sizes().vec();
  lead.pop_back();
  auto heads = [&](int64_t n) {
    auto s = lead;
    s.push_back(n);
    s.push_back(head_dim);
    return s;
  };
  q = apply_rope(q_norm->forward(q_proj->forward(x).view(heads(n_head))), cos, sin);
  k = apply_rope(k_norm->forward(k_proj->forward(x).view(heads(n_kv_head))), cos, sin);
  v = v_proj->forward(x).view(heads(n_kv_head));
}

at::Tensor AttentionImpl::forward(const at::Tensor& x, const RopeAngles& rope, const KVWrite* kv, int64_t layer) {
  const int64_t N = x.size(0), T = x.size(1), g = n_head / n_kv_head;
  at::Tensor q, k, v;
  // cos/sin [T, hd/2] -> [T, 1, hd/2] to broadcast over heads.
  project(x, rope.cos.unsqueeze(1), rope.sin.unsqueeze(1), q, k, v);  // q [N,T,H,hd], k/v [N,T,Hkv,hd]
  if (kv != nullptr && kv->cache != nullptr) {
    at::NoGradGuard no_grad;
    GRPO_CHECK(T <= kv->cache->t_max(), "prefill of ", T, " tokens does not fit a KV cache of ", kv->cache->t_max(),
               " positions; hint: raise the rollout's max sequence length");
    kv->cache->k[layer].narrow(1, 0, T).index_copy_(0, kv->dest_slots, k.index_select(0, kv->src_rows));
    kv->cache->v[layer].narrow(1, 0, T).index_copy_(0, kv->dest_slots, v.index_select(0, kv->src_rows));
  }
  q = q.transpose(1, 2);  // [N,H,T,hd]
  // GQA: query head h reads kv head h / g (HF repeat_kv).
  auto expand_kv = [&](const at::Tensor& t) {
    return t.transpose(1, 2).unsqueeze(2).expand({N, n_kv_head, g, T, head_dim}).reshape({N, n_head, T, head_dim});
  };
  at::Tensor kk = expand_kv(k), vv = expand_kv(v);
  at::Tensor scores = at::matmul(q, kk.transpose(-2, -1)) * scale;  // [N,H,T,T]
  at::Tensor causal = at::ones({T, T}, x.options().dtype(at::kBool)).triu(1);
  scores = scores.masked_fill(causal, -std::numeric_limits<float>::infinity());
  at::Tensor probs = at::softmax(scores, -1, at::kFloat).to(x.scalar_type());
  at::Tensor out = at::matmul(probs, vv);  // [N,H,T,hd]
  return o_proj->forward(out.transpose(1, 2).reshape({N, T, n_head * head_dim}));
}

at::Tensor AttentionImpl::forward_decode(const at::Tensor& x, const RopeAngles& rope, KVCache& cache, int64_t layer,
                                         const at::Tensor& slots, const at::Tensor& positions, int64_t t_len) {
  const int64_t S = x.size(0), g = n_head / n_kv_head;
  GRPO_CHECK(t_len <= cache.t_max(), "decoding position ", t_len - 1, " is past the KV cache (", cache.t_max(),
             " positions); hint: raise the rollout's max sequence length");
  at::Tensor q, k, v;
  project(x, rope.cos.unsqueeze(1), rope.sin.unsqueeze(1), q, k, v);  // q [S,H,hd], k/v [S,Hkv,hd]
  at::Tensor& ck = cache.k[layer];
  at::Tensor& cv = cache.v[layer];
  at::Tensor flat = slots * cache.t_max() + positions;  // row of (slot, position) in the flattened cache
  ck.view({-1, n_kv_head, head_dim}).index_copy_(0, flat, k);
  cv.view({-1, n_kv_head, head_dim}).index_copy_(0, flat, v);
  // The window [0, t_len) of the slots in use: [S, t_len, Hkv, hd].
  at::Tensor keys = ck.narrow(1, 0, t_len).index_select(0, slots);
  at::Tensor vals = cv.narrow(1, 0, t_len).index_select(0, slots);
  at::Tensor qg = q.view({S, n_kv_head, g, head_dim});
  at::Tensor scores = at::matmul(qg, keys.permute({0, 2, 3, 1})) * scale;  // [S,Hkv,g,t_len]
  at::Tensor future = at::arange(t_len, positions.options()).unsqueeze(0) > positions.unsqueeze(1);  // [S,t_len]
  scores = scores.masked_fill(future.view({S, 1, 1, t_len}), -std::numeric_limits<float>::infinity());
  at::Tensor probs = at::softmax(scores, -1, at::kFloat).to(x.scalar_type());
  at::Tensor out = at::matmul(probs, vals.permute({0, 2, 1, 3}));  // [S,Hkv,g,hd]
  return o_proj->forward(out.reshape({S, n_head * head_dim}));
}

}  // namespace grpo::policy
