// The decoder-only transformer of every supported architecture: embedding, N blocks of [RMSNorm -> attention
// (GQA or MLA) -> residual, RMSNorm -> MoE or SwiGLU -> residual], final RMSNorm, lm_head (or the tied
// embedding). ModelConfig's switches select the variant; there is no class per model.
// named_parameters() are exactly the Hugging Face tensor names. Math only; weights I/O lives in weights.h.
#pragma once

#include <cstdint>
#include <vector>

#include "policy/attention.h"
#include "policy/moe.h"

namespace grpo::policy {

struct DecoderLayerImpl : torch::nn::Module {
  DecoderLayerImpl(const ModelConfig& cfg, int64_t layer);
  int64_t index;
  RMSNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
  Attention self_attn{nullptr};
  MoE moe{nullptr};        // registered as `mlp` (Mixtral: `block_sparse_moe`) when the layer is sparse
  SwiGLU dense{nullptr};   // registered as `mlp` when the layer is dense
};
TORCH_MODULE(DecoderLayer);

struct ForwardOutput {
  at::Tensor hidden;                         // [N, T, C] after the final norm
  std::vector<at::Tensor> router_logits;     // per MoE layer, [N*T, E]
  std::vector<at::Tensor> expert_counts;     // per MoE layer, [E] int64 (CPU)
};

struct TransformerImpl : torch::nn::Module {
  // Builds the module tree and initialises weights N(0, initializer_range) from `seed` (norms to one, biases to
  // zero). With init_weights=false the matrices are left uninitialised (and untouched): for loading.
  TransformerImpl(const ModelConfig& cfg, uint64_t seed, bool init_weights = true);

  // tokens: [N, T] int64, right-padded. Positions are 0..T-1 for every row. If kv is set, prefill the cache.
  ForwardOutput forward(const at::Tensor& tokens, const KVWrite* kv = nullptr);
  // One decode step. tokens/positions/slots: [S] int64; returns logits [S, V] (float32).
  at::Tensor forward_decode(const at::Tensor& tokens, const at::Tensor& positions, const at::Tensor& slots,
                            KVCache& cache, int64_t t_len);
  // [..., C] -> [..., V]
  at::Tensor logits(const at::Tensor& hidden) const { return at::linear(hidden, output_weight()); }
  // lm_head.weight, or embed_tokens.weight when tied: [V, C]
  const at::Tensor& output_weight() const;

  ModelConfig config;
  Rope rope;  // inverse frequencies (with scaling) of every layer's RoPE
  std::shared_ptr<torch::nn::Module> model_root;  // "model": embed_tokens, layers, norm
  Embedding embed_tokens{nullptr};
  std::vector<DecoderLayer> layers;
  RMSNorm norm{nullptr};
  Linear lm_head{nullptr};  // null when tie_word_embeddings

 private:
  at::Tensor feed_forward(DecoderLayerImpl& layer, const at::Tensor& x, ForwardOutput* out);
};
TORCH_MODULE(Transformer);

}  // namespace grpo::policy
