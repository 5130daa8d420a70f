// Self-attention (GQA or MLA): the full causal path and the KV-cache decode path; see attention.h.
#include "policy/attention.h"

#include <limits>

#include <ATen/core/grad_mode.h>

#include "kernels/check.h"

namespace grpo::policy {

PagedKV PagedKV::allocate(const ModelConfig& cfg, int64_t n_block, int64_t block_size, const at::TensorOptions& opts) {
  GRPO_CHECK(n_block > 0 && block_size > 0, "a paged KV cache needs blocks: ", n_block, " of ", block_size, " tokens");
  PagedKV c;
  for (int64_t l = 0; l < cfg.n_layer; ++l) {
    if (cfg.mla()) {
      c.k.push_back(at::zeros({n_block, block_size, 1, cfg.kv_lora_rank}, opts));
      c.v.push_back(at::zeros({n_block, block_size, 1, cfg.qk_rope_head_dim}, opts));
    } else {
      c.k.push_back(at::zeros({n_block, block_size, cfg.n_kv_head, cfg.head_dim}, opts));
      c.v.push_back(at::zeros({n_block, block_size, cfg.n_kv_head, cfg.head_dim}, opts));
    }
  }
  return c;
}

int64_t PagedKV::bytes_per_token(const ModelConfig& cfg, int64_t element_size) {
  const int64_t per_layer = cfg.mla() ? cfg.kv_lora_rank + cfg.qk_rope_head_dim : 2 * cfg.n_kv_head * cfg.head_dim;
  return per_layer * cfg.n_layer * element_size;
}

int64_t PagedKV::expanded_bytes_per_token(const ModelConfig& cfg, int64_t element_size) {
  return cfg.cache_heads() * (cfg.k_dim() + cfg.v_dim()) * cfg.n_layer * element_size;
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
    at::Tensor latent, k_rot;
    project_mla(x, rope, cos, sin, q, latent, k_rot);
    expand_mla(latent, k_rot, k, v);
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

void AttentionImpl::project_mla(const at::Tensor& x, const RopeAngles& rope, const at::Tensor& cos,
                                const at::Tensor& sin, at::Tensor& q, at::Tensor& latent, at::Tensor& k_rot) const {
  auto heads = x.sizes().vec();
  heads.pop_back();
  heads.push_back(n_head);
  heads.push_back(cfg.qk_nope_head_dim + cfg.qk_rope_head_dim);
  const int64_t nope = cfg.qk_nope_head_dim, r = cfg.qk_rope_head_dim;
  at::Tensor qs = (q_a_proj ? q_b_proj->forward(q_a_layernorm->forward(q_a_proj->forward(x))) : q_proj->forward(x))
                      .view(heads);
  at::Tensor ckv = kv_a_proj_with_mqa->forward(x);
  latent = kv_a_layernorm->forward(ckv.narrow(-1, 0, cfg.kv_lora_rank));
  // The decoupled RoPE key: one head, shared by all heads.
  k_rot = apply_rope(ckv.narrow(-1, cfg.kv_lora_rank, r).unsqueeze(-2), rope, cos, sin);
  q = at::cat({qs.narrow(-1, 0, nope), apply_rope(qs.narrow(-1, nope, r), rope, cos, sin)}, -1);
}

void AttentionImpl::expand_mla(const at::Tensor& latent, const at::Tensor& k_rot, at::Tensor& k, at::Tensor& v) const {
  auto heads = latent.sizes().vec();
  heads.pop_back();
  heads.push_back(n_head);
  const int64_t nope = cfg.qk_nope_head_dim;
  at::Tensor kv = kv_b_proj->forward(latent);
  heads.push_back(nope + cfg.v_head_dim);
  kv = kv.view(heads);
  heads.back() = cfg.qk_rope_head_dim;
  k = at::cat({kv.narrow(-1, 0, nope), k_rot.expand(heads)}, -1);
  v = kv.narrow(-1, nope, cfg.v_head_dim);
}

at::Tensor AttentionImpl::forward(const at::Tensor& x, const RopeAngles& rope) {
  const int64_t N = x.size(0), T = x.size(1), g = n_head / n_kv_head;
  const int64_t kd = cfg.k_dim(), vd = cfg.v_dim();
  at::Tensor q, k, v;
  // cos/sin [T, d/2] -> [T, 1, d/2] to broadcast over heads.
  project(x, rope, rope.cos.unsqueeze(1), rope.sin.unsqueeze(1), q, k, v);  // q [N,T,H,kd], k/v [N,T,Hkv,*]
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

namespace {
// Flat row (block * block_size + offset) of each position in pos [R, m], through the rows' block tables [R, nb].
at::Tensor cache_rows(const PagedView& view, const at::Tensor& pos) {
  const int64_t bs = view.kv->block_size();
  return view.block_table.gather(1, at::div(pos, bs, "floor")) * bs + pos.remainder(bs);
}
}  // namespace

PagedRows paged_rows(const PagedView& view, const at::Tensor& q_pos) {
  GRPO_CHECK(view.block_table.size(1) * view.kv->block_size() >= view.t_len, "paged attention: ",
             view.block_table.size(1), " blocks of ", view.kv->block_size(), " cannot hold ", view.t_len, " positions");
  PagedRows r;
  r.key_pos = at::arange(view.t_len, q_pos.options()).unsqueeze(0).expand({q_pos.size(0), view.t_len});
  r.write = cache_rows(view, q_pos).reshape({-1});
  r.read = cache_rows(view, r.key_pos).reshape({-1});
  return r;
}

namespace {
// Writes rows of `t` ([R, n, heads, d]) into the flattened `cache` and reads the rows `read` ([R, t_len]) back:
// [R, t_len, heads, d].
at::Tensor write_then_read(at::Tensor& cache, const at::Tensor& write, const at::Tensor& t, const at::Tensor& read) {
  at::Tensor flat = cache.view({-1, cache.size(2), cache.size(3)});
  {
    at::NoGradGuard no_grad;
    flat.index_copy_(0, write, t.reshape({-1, cache.size(2), cache.size(3)}).to(cache.scalar_type()));
  }
  return flat.index_select(0, read.reshape({-1})).view({read.size(0), read.size(1), cache.size(2), cache.size(3)});
}
}  // namespace

at::Tensor AttentionImpl::forward_paged(const at::Tensor& x, const RopeAngles& rope, const PagedView& view,
                                        const PagedRows& rows, int64_t layer, const at::Tensor& q_pos) {
  const int64_t R = x.size(0), n = x.size(1), t_len = view.t_len;
  const int64_t kd = cfg.k_dim(), vd = cfg.v_dim();
  const at::Tensor cos = rope.cos.unsqueeze(-2), sin = rope.sin.unsqueeze(-2);  // over heads
  const at::Tensor& k_pos = rows.key_pos;
  const at::Tensor& write = rows.write;
  const at::Tensor read = rows.read.view({R, t_len});
  at::Tensor q, keys, vals;  // q [R,n,H,kd]; keys/vals [R,t_len,Hkv,*]
  if (cfg.mla()) {
    at::Tensor latent, k_rot;
    project_mla(x, rope, cos, sin, q, latent, k_rot);
    at::Tensor lat = write_then_read(view.kv->k[static_cast<size_t>(layer)], write, latent.unsqueeze(-2), read);
    at::Tensor rot = write_then_read(view.kv->v[static_cast<size_t>(layer)], write, k_rot, read);
    expand_mla(lat.squeeze(-2).to(x.scalar_type()), rot.to(x.scalar_type()), keys, vals);
  } else {
    at::Tensor k, v;
    project(x, rope, cos, sin, q, k, v);
    keys = write_then_read(view.kv->k[static_cast<size_t>(layer)], write, k, read);
    vals = write_then_read(view.kv->v[static_cast<size_t>(layer)], write, v, read);
  }
  // GQA: the g query heads of a K/V head and the n new tokens form one [g*n, d] block per (row, K/V head).
  const int64_t h_kv = keys.size(2), g = n_head / h_kv;
  at::Tensor qg = q.reshape({R, n, h_kv, g, kd}).permute({0, 2, 3, 1, 4}).reshape({R, h_kv, g * n, kd});
  at::Tensor scores = at::matmul(qg, keys.to(q.scalar_type()).permute({0, 2, 3, 1})) * scale;  // [R,Hkv,g*n,t]
  at::Tensor future = k_pos.unsqueeze(1) > q_pos.unsqueeze(2);                              // [R,n,t]
  scores = scores.view({R, h_kv, g, n, t_len})
               .masked_fill(future.view({R, 1, 1, n, t_len}), -std::numeric_limits<float>::infinity())
               .view({R, h_kv, g * n, t_len});
  at::Tensor probs = at::softmax(scores, -1, at::kFloat).to(q.scalar_type());
  at::Tensor out = at::matmul(probs, vals.to(q.scalar_type()).permute({0, 2, 1, 3}));       // [R,Hkv,g*n,vd]
  return o_proj->forward(out.view({R, h_kv, g, n, vd}).permute({0, 3, 1, 2, 4}).reshape({R, n, n_head * vd}));
}

}  // namespace grpo::policy
