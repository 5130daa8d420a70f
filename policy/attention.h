// Self-attention in two paths over the same weights: full causal attention over a padded batch (training and
// prefill, optionally writing K/V into a cache) and one-token decoding against that cache. One module covers
// every architecture through ModelConfig switches: grouped-query attention with optional q/k/v and o biases,
// Qwen3's per-head or OLMoE's whole-projection q/k RMSNorm, OLMoE's clip_qkv, and DeepSeek's multi-head latent
// attention (low-rank q and kv projections, a decoupled RoPE key shared by all heads). The cache is plain
// storage; which sequence owns which slot is the rollout scheduler's business.
#pragma once

#include <vector>

#include "policy/layers.h"
#include "policy/model_config.h"

namespace grpo::policy {

// K/V storage for every layer: k[l] is [n_slot, t_max, cache_heads, k_dim], v[l] [n_slot, t_max, cache_heads,
// v_dim] (see ModelConfig). Slot s holds one sequence; position t of it is valid while t < that sequence's
// length (tracked by the caller). MLA caches the decompressed per-head K and V.
struct KVCache {
  std::vector<at::Tensor> k, v;
  static KVCache allocate(const ModelConfig& cfg, int64_t n_slot, int64_t t_max, const at::TensorOptions& opts);
  int64_t n_slot() const { return k.empty() ? 0 : k[0].size(0); }
  int64_t t_max() const { return k.empty() ? 0 : k[0].size(1); }
};

// Where a prefill writes its K/V: row src_rows[m] of the batch goes to cache slot dest_slots[m] (a prompt
// shared by G samples is computed once and copied to G slots).
struct KVWrite {
  KVCache* cache = nullptr;
  at::Tensor dest_slots;  // [M] int64
  at::Tensor src_rows;    // [M] int64, rows of the prefill batch
};

struct AttentionImpl : torch::nn::Module {
  explicit AttentionImpl(const ModelConfig& cfg, const at::TensorOptions& opts = {});

  // x: [N, T, C] right-padded (padding after the valid tokens, so causal attention never sees it);
  // rope cos/sin: [T, rope_dim/2]. If kv != nullptr, K/V of all T positions go to the cache (layer `layer`).
  at::Tensor forward(const at::Tensor& x, const RopeAngles& rope, const KVWrite* kv, int64_t layer);

  // One new token per sequence. x: [S, C]; rope cos/sin: [S, rope_dim/2] at `positions` [S] int64; slots [S].
  // Writes the token's K/V at (slot, position) then attends over positions [0, position]. `t_len` is
  // max(positions) + 1, passed in so the cache is read only as far as needed.
  at::Tensor forward_decode(const at::Tensor& x, const RopeAngles& rope, KVCache& cache, int64_t layer,
                            const at::Tensor& slots, const at::Tensor& positions, int64_t t_len);

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
};
TORCH_MODULE(Attention);

}  // namespace grpo::policy
