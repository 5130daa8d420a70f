// Grouped-query self-attention with Qwen3's per-head q/k RMSNorm before RoPE, in two paths over the same
// weights: full causal attention over a padded batch (training and prefill, optionally writing K/V into a
// cache) and one-token decoding against that cache. The cache here is plain storage; which sequence owns
// which slot is the rollout scheduler's business.
#pragma once

#include <vector>

#include "policy/layers.h"
#include "policy/model_config.h"

namespace grpo::policy {

// K/V storage for every layer: k[l], v[l] are [n_slot, t_max, n_kv_head, head_dim]. Slot s holds one sequence;
// position t of it is valid while t < that sequence's length (tracked by the caller).
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
  explicit AttentionImpl(const ModelConfig& cfg);

  // x: [N, T, C] right-padded (padding after the valid tokens, so causal attention never sees it);
  // cos/sin: [T, head_dim/2]. If kv != nullptr, K/V of all T positions go to the cache (layer `layer`).
  at::Tensor forward(const at::Tensor& x, const RopeAngles& rope, const KVWrite* kv, int64_t layer);

  // One new token per sequence. x: [S, C]; cos/sin: [S, head_dim/2] at `positions` [S] int64; slots [S] int64.
  // Writes the token's K/V at (slot, position) then attends over positions [0, position]. `t_len` is
  // max(positions) + 1, passed in so the cache is read only as far as needed.
  at::Tensor forward_decode(const at::Tensor& x, const RopeAngles& rope, KVCache& cache, int64_t layer,
                            const at::Tensor& slots, const at::Tensor& positions, int64_t t_len);

  int64_t n_head, n_kv_head, head_dim;
  double scale;
  Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};
  RMSNorm q_norm{nullptr}, k_norm{nullptr};

 private:
  // q: [.., n_head, hd], k/v: [.., n_kv_head, hd] after norm and RoPE.
  void project(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin, at::Tensor& q, at::Tensor& k,
               at::Tensor& v) const;
};
TORCH_MODULE(Attention);

}  // namespace grpo::policy
