// Self-attention in two paths over the same weights: full causal attention over a padded batch (training) and
// attention over a paged K/V cache for generation (prefill, chunked prefill and decode are one path). One module covers
// every architecture through ModelConfig switches: grouped-query attention with optional q/k/v and o biases,
// Qwen3's per-head or OLMoE's whole-projection q/k RMSNorm, OLMoE's clip_qkv, and DeepSeek's multi-head latent
// attention (low-rank q and kv projections, a decoupled RoPE key shared by all heads). The cache is plain
// storage; which sequence owns which block is the rollout scheduler's business.
#pragma once

#include <vector>

#include "policy/layers.h"
#include "policy/model_config.h"

namespace grpo::policy {

// K/V storage in fixed-size blocks, for every layer: k[l] is [n_block, block_size, heads, k width], v[l] likewise.
// GQA caches each K/V head; MLA (DeepSeek-V2/V3) caches what it compresses to: k[l] the normalised latent
// [.., 1, kv_lora_rank], v[l] the rotated RoPE key [.., 1, qk_rope_head_dim], expanded to per-head K and V when read.
// Which block belongs to which sequence is the rollout's business; here a block is only storage.
struct PagedKV {
  std::vector<at::Tensor> k, v;
  static PagedKV allocate(const ModelConfig& cfg, int64_t n_block, int64_t block_size, const at::TensorOptions& opts);
  int64_t n_block() const { return k.empty() ? 0 : k[0].size(0); }
  int64_t block_size() const { return k.empty() ? 0 : k[0].size(1); }
  // Bytes one cached token takes over all layers, and what it would take as expanded per-head K and V.
  static int64_t bytes_per_token(const ModelConfig& cfg, int64_t element_size);
  static int64_t expanded_bytes_per_token(const ModelConfig& cfg, int64_t element_size);
};

// What one forward over R rows of new tokens reads and writes. Row r's new tokens take positions start[r],
// start[r]+1, ...; position t of row r lives at offset t % block_size of block block_table[r][t / block_size].
// Columns beyond a row's own blocks name a scratch block: padding writes land there and are never read unmasked.
struct PagedView {
  PagedKV* kv = nullptr;
  at::Tensor block_table;  // [R, nb] int64 on the model's device, nb * block_size >= t_len
  int64_t t_len = 0;       // max over rows of the last new position + 1: keys are read from [0, t_len)
};

// What every layer of one paged forward reads its cache through, derived once from the view and the new tokens'
// positions q_pos [R, n]: the flat cache rows (block * block_size + offset) the new tokens go to [R*n] and the keys
// are read from [R*t_len], and the keys' positions [R, t_len].
struct PagedRows {
  at::Tensor write, read, key_pos;
};
PagedRows paged_rows(const PagedView& view, const at::Tensor& q_pos);

struct AttentionImpl : torch::nn::Module {
  explicit AttentionImpl(const ModelConfig& cfg, const at::TensorOptions& opts = {});

  // Training: x [N, T, C] right-padded (padding after the valid tokens, so causal attention never sees it);
  // rope cos/sin: [T, rope_dim/2]. No cache.
  at::Tensor forward(const at::Tensor& x, const RopeAngles& rope);

  // Generation (prefill, chunked prefill, decode alike): x [R, n, C] new tokens at positions q_pos [R, n] int64;
  // rope cos/sin [R, n, rope_dim/2]. Writes their K/V into the blocks of `view` (layer `layer`), then each attends
  // to the row's cached positions up to its own.
  at::Tensor forward_paged(const at::Tensor& x, const RopeAngles& rope, const PagedView& view, const PagedRows& rows,
                           int64_t layer, const at::Tensor& q_pos);

  ModelConfig cfg;
  int64_t n_head, n_kv_head;  // heads of q, and of the K/V that attention reads (MLA: n_head)
  double scale;
  // GQA
  Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr};
  RMSNorm q_norm{nullptr}, k_norm{nullptr};
  // MLA (q_proj above when q_lora_rank is 0)
  Linear q_a_proj{nullptr}, q_b_proj{nullptr}, kv_a_proj_with_mqa{nullptr}, kv_b_proj{nullptr};
  RMSNorm q_a_layernorm{nullptr}, kv_a_layernorm{nullptr};
  Linear o_proj{nullptr};

 private:
  // q: [.., n_head, k_dim], k: [.., n_kv_head, k_dim], v: [.., n_kv_head, v_dim], after norms and RoPE.
  // cos/sin broadcast over the head dim.
  void project(const at::Tensor& x, const RopeAngles& rope, const at::Tensor& cos, const at::Tensor& sin,
               at::Tensor& q, at::Tensor& k, at::Tensor& v) const;
  // MLA before expansion: q as above, the normalised latent [.., kv_lora_rank] and the rotated key [.., 1, rope].
  void project_mla(const at::Tensor& x, const RopeAngles& rope, const at::Tensor& cos, const at::Tensor& sin,
                   at::Tensor& q, at::Tensor& latent, at::Tensor& k_rot) const;
  // MLA: per-head K [.., n_head, k_dim] and V [.., n_head, v_dim] from the latent and the rotated key.
  void expand_mla(const at::Tensor& latent, const at::Tensor& k_rot, at::Tensor& k, at::Tensor& v) const;
};
TORCH_MODULE(Attention);

}  // namespace grpo::policy
