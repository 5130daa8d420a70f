// ModelConfig: the hyper-parameters of a decoder-only transformer, read from and written to a Hugging Face
// config.json, plus the `tiny-*` presets used by CPU recipes and tests. One struct covers every architecture of
// the table in arch.h: the model_type picks the row, config.json sets the switches (biases, q/k norm, MLA, router
// kind), and the transformer reads the switches. It is not the model: it holds no tensors and knows nothing of
// LibTorch.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "policy/arch.h"

namespace grpo::policy {

enum class RouterScore { Softmax, Sigmoid };

// How the K experts of a token are chosen from the router scores.
enum class TopkMethod {
  Greedy,        // top-k of the scores
  GroupMax,      // DeepSeek-V2 group_limited_greedy: groups ranked by their best score, the rest zeroed
  GroupTop2Bias  // DeepSeek-V3 noaux_tc: scores + e_score_correction_bias, groups ranked by the sum of their top 2
};

// Rotary position embedding: base, scaling (YaRN, linear, Llama 3) and the pair layout.
struct RopeConfig {
  double theta = 10000.0;
  std::string type = "default";  // default | linear | yarn | llama3
  double factor = 1.0;
  int64_t original_max_position_embeddings = 0;  // yarn, llama3: the pre-training context; 0 = max_position_embeddings
  double low_freq_factor = 1.0, high_freq_factor = 4.0;  // llama3: wavelengths above orig/low are divided by
                                                         // factor, below orig/high kept, blended in between
  double beta_fast = 32.0, beta_slow = 1.0;      // yarn
  double mscale = 0.0, mscale_all_dim = 0.0;     // yarn (0 = absent)
  double attention_factor = 0.0;                 // yarn; multiplies cos and sin; 0 = derived from factor/mscale
  bool truncate = true;                          // yarn: floor/ceil the correction range
  bool interleaved = false;  // DeepSeek: pairs (2i, 2i+1) rotate together; else halves (i, i + d/2) ("NeoX")
};

struct ModelConfig {
  Arch arch = Arch::Qwen3Moe;            // the row of arch.h's table
  std::string model_type = "qwen3_moe";  // HF model_type, as read (arch_info(arch).model_type)
  int64_t n_vocab = 0;                   // vocab_size
  int64_t n_embd = 0;                    // hidden_size (C)
  int64_t n_layer = 0;                   // num_hidden_layers
  int64_t n_head = 0;                    // num_attention_heads
  int64_t n_kv_head = 0;                 // num_key_value_heads (GQA: n_head % n_kv_head == 0)
  int64_t head_dim = 0;                  // head_dim (MLA: the rotary part, qk_rope_head_dim)
  int64_t n_ff = 0;                      // intermediate_size: the dense SwiGLU width
  double rms_norm_eps = 1e-6;            // inside the sqrt
  RopeConfig rope;
  int64_t max_position_embeddings = 0;   // longest sequence the model is meant for
  bool tie_word_embeddings = false;      // lm_head shares embed_tokens
  double initializer_range = 0.02;       // std of the normal init of fresh weights
  int64_t bos_token_id = -1;             // -1: none
  int64_t eos_token_id = -1;             // the first one when config.json lists several
  int64_t pad_token_id = -1;

  // Attention switches.
  bool qkv_bias = false;       // q/k/v projections carry a bias (Qwen2 always; others via attention_bias)
  bool o_bias = false;         // o_proj carries a bias (attention_bias)
  QKNorm qk_norm = QKNorm::PerHead;
  double clip_qkv = 0.0;       // OLMoE: clamp q, k, v to [-clip, clip]; 0 = off
  // Multi-head latent attention (DeepSeek-V2/V3); on when kv_lora_rank > 0.
  int64_t q_lora_rank = 0;     // 0: a plain q_proj
  int64_t kv_lora_rank = 0;
  int64_t qk_nope_head_dim = 0, qk_rope_head_dim = 0, v_head_dim = 0;

  // Mixture of experts.
  int64_t n_ff_expert = 0;               // each routed expert's SwiGLU width
  int64_t n_expert = 0;                  // routed experts (0 = dense model)
  int64_t n_expert_used = 0;             // num_experts_per_tok (K)
  int64_t n_shared_expert = 0;           // DeepSeek: one shared SwiGLU of width n_shared_expert * n_ff_expert
  bool norm_topk_prob = true;            // renormalise the K routing weights to sum to 1
  RouterScore router_score = RouterScore::Softmax;
  TopkMethod topk_method = TopkMethod::Greedy;
  int64_t n_group = 1, topk_group = 1;   // group-limited routing
  double routed_scaling_factor = 1.0;    // multiplies the routing weights
  // Layer i is MoE iff n_expert > 0, i >= first_k_dense_replace, i % moe_layer_freq == 0,
  // (i+1) % decoder_sparse_step == 0 and i is not in mlp_only_layers.
  int64_t first_k_dense_replace = 0, moe_layer_freq = 1, decoder_sparse_step = 1;
  std::vector<int64_t> mlp_only_layers;
  double router_aux_loss_coef = 0.01;    // weight of the Switch load-balancing loss (Fedus et al. 2021)
  int64_t n_mtp_layers = 0;              // DeepSeek-V3 num_nextn_predict_layers: their tensors are skipped on load

  // The config.json text this was read from ("" for presets); written back with only the dtype updated, so keys
  // we do not model survive a load -> train -> save cycle.
  std::string source_json;

  bool mla() const { return kv_lora_rank > 0; }
  bool router_bias() const { return topk_method == TopkMethod::GroupTop2Bias; }  // e_score_correction_bias
  bool is_moe_layer(int64_t layer) const;
  int64_t rope_dim() const { return mla() ? qk_rope_head_dim : head_dim; }
  // Heads of the K and V attention reads (MLA: every query head has its own, expanded from the latent).
  int64_t cache_heads() const { return mla() ? n_head : n_kv_head; }
  int64_t k_dim() const { return mla() ? qk_nope_head_dim + qk_rope_head_dim : head_dim; }
  int64_t v_dim() const { return mla() ? v_head_dim : head_dim; }
  double attention_scale() const;  // multiplies q.k (head dim^-1/2, with DeepSeek's YaRN mscale^2)
  const ArchInfo& info() const { return arch_info(arch); }

  // Throws grpo::Error naming the first inconsistent field.
  void validate() const;
  // Trainable parameters in total and used per token (routed experts: K of E); lm_head counted unless tied.
  int64_t n_params() const;
  int64_t n_active_params() const;
};

// YaRN's attention temperature 0.1 * m * ln(scale) + 1 (1 for scale <= 1), as transformers' get_mscale.
double yarn_mscale(double scale, double m);

// config.json <-> ModelConfig. Unknown model_type or an unsupported option stops with a message naming it.
ModelConfig read_model_config(const std::string& path);
ModelConfig parse_model_config(const std::string& json_text, const std::string& label);
// `dtype` ("float32", "bfloat16", "float16") is written as torch_dtype.
std::string model_config_to_json(const ModelConfig& cfg, const std::string& dtype = "float32");

// Presets for fresh models: "tiny-moe" (4 layers, C=128, 4 heads, 4 SwiGLU experts of width 256, top-2),
// "test-moe" (2 layers, C=32, for unit tests). Both qwen3_moe. n_vocab comes from the tokenizer.
ModelConfig model_preset(const std::string& name, int64_t n_vocab);

}  // namespace grpo::policy
