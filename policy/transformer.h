// The decoder-only transformer of every supported architecture: embedding, N blocks of [RMSNorm -> attention
// (GQA or MLA) -> residual, RMSNorm -> MoE or SwiGLU -> residual], final RMSNorm, lm_head (or the tied
// embedding). ModelConfig's switches select the variant; there is no class per model.
// named_parameters() are exactly the Hugging Face tensor names. Math only; weights I/O lives in weights.h.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "policy/attention.h"
#include "policy/moe.h"

namespace grpo::policy {

struct DecoderLayerImpl : torch::nn::Module {
  DecoderLayerImpl(const ModelConfig& cfg, int64_t layer, const at::TensorOptions& opts = {});
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
  std::vector<at::Tensor> routes;            // per MoE layer, [N*T, K] int64: the experts chosen
  int64_t replay_mismatch = 0;               // routing replay: token-layers where the router would have chosen otherwise
};

struct TransformerImpl : torch::nn::Module {
  // Builds the module tree and initialises weights N(0, initializer_range) from `seed` (norms to one, biases to
  // zero). With init_weights=false the matrices are left uninitialised (and untouched): for loading. `device` is
  // the CPU, or at::kMeta for the names and shapes without allocating anything (init_weights must then be false).
  TransformerImpl(const ModelConfig& cfg, uint64_t seed, bool init_weights = true, at::Device device = at::kCPU);

  // Training: tokens [N, T] int64, right-padded. Positions are 0..T-1 for every row. forced_routes (routing replay):
  // per MoE layer [N*T, K] int64 experts to use (-1: the router chooses), e.g. those the rollout chose.
  // checkpoint_layers: activation checkpointing, each decoder layer keeps only its input for the backward and runs
  // again there (one more forward's compute for the activations of a single layer at a time).
  ForwardOutput forward(const at::Tensor& tokens, const std::vector<at::Tensor>* forced_routes = nullptr,
                        bool checkpoint_layers = false);
  // One decoder layer, residuals included: attention then the feed-forward (dense, or MoE with `forced` routes).
  at::Tensor layer_forward(DecoderLayerImpl& layer, const at::Tensor& h, const RopeAngles& angles, ForwardOutput* out,
                           const at::Tensor& forced = at::Tensor());
  // Generation over a paged K/V cache: tokens [R, n] int64 at positions q_pos [R, n] (each row's new tokens, right-
  // padded), their K/V written into view's blocks; returns the hidden states [R, n, C] after the final norm. Prefill
  // (n = the prompt), chunked prefill and decode (n = 1) are all this call. `routes`, if given, gets each MoE layer's
  // chosen experts [R*n, K].
  at::Tensor forward_paged(const at::Tensor& tokens, const at::Tensor& q_pos, const PagedView& view,
                           std::vector<at::Tensor>* routes = nullptr);
  // [..., C] -> [..., V'] where V' = output_vocab() (V unless limited)
  at::Tensor logits(const at::Tensor& hidden) const { return at::linear(hidden, output_weight()); }
  // lm_head.weight, or embed_tokens.weight when tied, limited to the first output_vocab() rows: [V', C]
  at::Tensor output_weight() const;
  // NOTE: checkpoints pad the embedding beyond the tokenizer (Qwen2.5: 151,936 rows for 151,665 tokens). Limiting
  // the output to the tokenizer's ids means no padding id is ever sampled, and the rollout and the learner share
  // one softmax over the real vocabulary. Not saved: set from the tokenizer at load.
  void set_output_vocab(int64_t n);
  int64_t output_vocab() const { return output_vocab_ > 0 ? output_vocab_ : config.n_vocab; }

  ModelConfig config;
  Rope rope;  // inverse frequencies (with scaling) of every layer's RoPE
  std::shared_ptr<torch::nn::Module> model_root;  // "model": embed_tokens, layers, norm
  Embedding embed_tokens{nullptr};
  std::vector<DecoderLayer> layers;
  RMSNorm norm{nullptr};
  Linear lm_head{nullptr};  // null when tie_word_embeddings

 private:
  int64_t output_vocab_ = 0;  // 0 = config.n_vocab
  at::Tensor feed_forward(DecoderLayerImpl& layer, const at::Tensor& x, ForwardOutput* out,
                          const at::Tensor& forced = at::Tensor());
};
TORCH_MODULE(Transformer);

// Name and shape of every parameter and buffer a model of `cfg` has, in module order: what its checkpoint must
// hold. The module tree is built on the meta device, so nothing is allocated whatever the model's size.
struct TensorShape {
  std::string name;
  std::vector<int64_t> shape;
};
std::vector<TensorShape> model_tensor_shapes(const ModelConfig& cfg);

}  // namespace grpo::policy
