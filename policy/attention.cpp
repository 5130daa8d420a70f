// Self-attention (GQA or MLA): the full causal path and the KV-cache decode path; see attention.h.
#include "policy/attention.h"

#include <limits>

#include <ATen/core/grad_mode.h>

#include "kernels/check.h"

namespace grpo::policy {

KVCache KVCache::allocate(const ModelConfig& cfg, int64_t n_slot, int64_t t_max, const at::TensorOptions& opts) {
  KVCache c;
  for (int64_t l = 0; l < cfg.n_layer; ++l) {
    c.k.push_back(at::zeros({n_slot, t_max, cfg.cache_heads(), cfg.k_dim()}, opts));
    c.v.push_back(at::zeros({n_slot, t_max, cfg.cache_heads(), cfg.v_dim()}, opts));
  }
  return c;
}

AttentionImpl::AttentionImpl(const ModelConfig& c, const at::TensorOptions& opts)
    : cfg(c), n_head(c.n_head), n_kv_head(c.cache_heads()), scale(c.attention_scale()) {
  const int64_t C = c.n_embd;
  if (c.mla()) {
    // DeepSeek-V2/V3 (HF DeepseekV3Attention). NOTE: q_a_layernorm and kv_a_layernorm use eps 1e-6 whatever
    // rms_norm_eps says (their RMSNorm is built with the class default).
    const int64_t qk = c.k_dim();
    if (c.q_lora_rank > 0) {
      q_a_proj = register_module("q_a_proj", Linear(C, c.q_lora_rank, c.qkv_bias, opts));
      q_a_layernorm = register_module("q_a_layernorm", RMSNorm(c.q_lora_rank, 1e-6, opts));
      q_b_proj = register_module("q_b_proj", Linear(c.q_lora_rank, n_head * qk, false, opts));
    } else {
      q_proj = register_module("q_proj", Linear(C, n_head * qk, false, opts));
    }
    kv_a_proj_with_mqa =
        register_module("kv_a_proj_with_mqa", Linear(C, c.kv_lora_rank + c.qk_rope_head_dim, c.qkv_bias, opts));
    kv_a_layernorm = register_module("kv_a_layernorm", RMSNorm(c.kv_lora_rank, 1e-6, opts));
    kv_b_proj = register_module("kv_b_proj",
                                Linear(c.kv_lora_rank, n_head * (c.qk_nope_head_dim + c.v_head_dim), false, opts));
    o_proj = register_module("o_proj", Linear(n_head * c.v_head_dim, C, c.o_bias, opts));
    return;
  }
  const int64_t hd = c.head_dim;
  q_proj = register_module("q_proj", Linear(C, n_head * hd, c.qkv_bias, opts));
  k_proj = register_module("k_proj", Linear(C, n_kv_head * hd, c.qkv_bias, opts));
  v_proj = register_module("v_proj", Linear(C, n_kv_head * hd, c.qkv_bias, opts));
  o_proj = register_module("o_proj", Linear(n_head * hd, C, c.o_bias, opts));
  if (c.qk_norm == QKNorm::PerHead) {
    q_norm = register_module("q_norm", RMSNorm(hd, c.rms_norm_eps, opts));
    k_norm = register_module("k_norm", RMSNorm(hd, c.rms_norm_eps, opts));
  } else if (c.qk_norm == QKNorm::Full) {
    q_norm = register_module("q_norm", RMSNorm(n_head * hd, c.rms_norm_eps, opts));
    k_norm = register_module("k_norm", RMSNorm(n_kv_head * hd, c.rms_norm_eps, opts));
  }
}

void AttentionImpl::project(const at::Tensor& x, const RopeAngles& rope, const at::Tensor& cos, const at::Tensor& sin,
                            at::Tensor& q, at::Tensor& k, at::Tensor& v) const {
  auto lead = x.sizes().vec();
  lead.pop_back();
  auto heads = [&](int64_t n, int64_t d) {
    auto s = lead;
    s.push_back(n);
    s.push_back(d);
    return s;
  };
  if (cfg.mla()) {
    const int64_t nope = cfg.qk_nope_head_dim, r = cfg.qk_rope_head_dim;
    at::Tensor qs = (q_a_proj ? q_b_proj->forward(q_a_layernorm->forward(q_a_proj->forward(x))) : q_proj->forward(x))
                        .view(heads(n_head, nope + r));
    at::Tensor ckv = kv_a_proj_with_mqa->forward(x);
    at::Tensor latent = kv_a_layernorm->forward(ckv.narrow(-1, 0, cfg.kv_lora_rank));
    // The decoupled RoPE key: one head, shared by all heads.
    at::Tensor k_rot = apply_rope(ckv.narrow(-1, cfg.kv_lora_rank, r).unsqueeze(-2), rope, cos, sin);
    at::Tensor kv = kv_b_proj->forward(latent).view(heads(n_head, nope + cfg.v_head_dim));
    at::Tensor q_rot = apply_rope(qs.narrow(-1, nope, r), rope, cos, sin);
    q = at::cat({qs.narrow(-1, 0, nope), q_rot}, -1);
    k = at::cat({kv.narrow(-1, 0, nope), k_rot.expand(heads(n_head, r))}, -1);
    v = kv.narrow(-1, nope, cfg.v_head_dim);
    return;
  }
  const int64_t hd = cfg.head_dim;
  at::Tensor qp = q_proj->forward(x), kp = k_proj->forward(x);
  v = v_proj->forward(x);
  if (cfg.qk_norm == QKNorm::Full) {  // OLMoE: over the whole projection, before the split into heads
    qp = q_norm->forward(qp);
    kp = k_norm->forward(kp);
  }
  if (cfg.clip_qkv > 0) {
    qp = qp.clamp(-cfg.clip_qkv, cfg.clip_qkv);
    kp = kp.clamp(-cfg.clip_qkv, cfg.clip_qkv);
    v = v.clamp(-cfg.clip_qkv, cfg.clip_qkv);
  }
  qp = qp.view(heads(n_head, hd));
  kp = kp.view(heads(n_kv_head, hd));
  v = v.view(heads(n_kv_head, hd));
  if (cfg.qk_norm == QKNorm::PerHead) {  // Qwen3: per head, before RoPE
    qp = q_norm->forward(qp);
    kp = k_norm->forward(kp);
  }
  q = apply_rope(qp, rope, cos, sin);
  k = apply_rope(kp, rope, cos, sin);
}

at::Tensor AttentionImpl::forward(const at::Tensor& x, const RopeAngles& rope, const KVWrite* kv, int64_t layer) {
  const int64_t N = x.size(0), T = x.size(1), g = n_head / n_kv_head;
  const int64_t kd = cfg.k_dim(), vd = cfg.v_dim();
  at::Tensor q, k, v;
  // cos/sin [T, d/2] -> [T, 1, d/2] to broadcast over heads.
  project(x, rope, rope.cos.unsqueeze(1), rope.sin.unsqueeze(1), q, k, v);  // q [N,T,H,kd], k/v [N,T,Hkv,*]
  if (kv != nullptr && kv->cache != nullptr) {
    at::NoGradGuard no_grad;
    GRPO_CHECK(T <= kv->cache->t_max(), "prefill of ", T, " tokens does not fit a KV cache of ", kv->cache->t_max(),
               " positions; hint: raise the rollout's max sequence length");
    kv->cache->k[layer].narrow(1, 0, T).index_copy_(0, kv->dest_slots, k.index_select(0, kv->src_rows));
    kv->cache->v[layer].narrow(1, 0, T).index_copy_(0, kv->dest_slots, v.index_select(0, kv->src_rows));
  }
  q = q.transpose(1, 2);  // [N,H,T,kd]
  // GQA: query head h reads kv head h / g (HF repeat_kv).
  auto expand_kv = [&](const at::Tensor& t, int64_t d) {
    return t.transpose(1, 2).unsqueeze(2).expand({N, n_kv_head, g, T, d}).reshape({N, n_head, T, d});
  };
  at::Tensor kk = expand_kv(k, kd), vv = expand_kv(v, vd);
  at::Tensor scores = at::matmul(q, kk.transpose(-2, -1)) * scale;  // [N,H,T,T]
  at::Tensor causal = at::ones({T, T}, x.options().dtype(at::kBool)).triu(1);
  scores = scores.masked_fill(causal, -std::numeric_limits<float>::infinity());
  at::Tensor probs = at::softmax(scores, -1, at::kFloat).to(x.scalar_type());
  at::Tensor out = at::matmul(probs, vv);  // [N,H,T,vd]
  return o_proj->forward(out.transpose(1, 2).reshape({N, T, n_head * vd}));
}

at::Tensor AttentionImpl::forward_decode(const at::Tensor& x, const RopeAngles& rope, KVCache& cache, int64_t layer,
                                         const at::Tensor& slots, const at::Tensor& positions, int64_t t_len) {
  const int64_t S = x.size(0), g = n_head / n_kv_head;
  const int64_t kd = cfg.k_dim(), vd = cfg.v_dim();
  GRPO_CHECK(t_len <= cache.t_max(), "decoding position ", t_len - 1, " is past the KV cache (", cache.t_max(),
             " positions); hint: raise the rollout's max sequence length");
  at::Tensor q, k, v;
  project(x, rope, rope.cos.unsqueeze(1), rope.sin.unsqueeze(1), q, k, v);  // q [S,H,kd], k/v [S,Hkv,*]
  at::Tensor& ck = cache.k[layer];
  at::Tensor& cv = cache.v[layer];
  at::Tensor flat = slots * cache.t_max() + positions;  // row of (slot, position) in the flattened cache
  ck.view({-1, n_kv_head, kd}).index_copy_(0, flat, k.contiguous());
  cv.view({-1, n_kv_head, vd}).index_copy_(0, flat, v.contiguous());
  // The window [0, t_len) of the slots in use: [S, t_len, Hkv, *].
  at::Tensor keys = ck.narrow(1, 0, t_len).index_select(0, slots);
  at::Tensor vals = cv.narrow(1, 0, t_len).index_select(0, slots);
  at::Tensor qg = q.reshape({S, n_kv_head, g, kd});
  at::Tensor scores = at::matmul(qg, keys.permute({0, 2, 3, 1})) * scale;  // [S,Hkv,g,t_len]
  at::Tensor future = at::arange(t_len, positions.options()).unsqueeze(0) > positions.unsqueeze(1);  // [S,t_len]
  scores = scores.masked_fill(future.view({S, 1, 1, t_len}), -std::numeric_limits<float>::infinity());
  at::Tensor probs = at::softmax(scores, -1, at::kFloat).to(x.scalar_type());
  at::Tensor out = at::matmul(probs, vals.permute({0, 2, 1, 3}));  // [S,Hkv,g,vd]
  return o_proj->forward(out.reshape({S, n_head * vd}));
}

}  // namespace grpo::policy
