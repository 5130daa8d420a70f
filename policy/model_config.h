// ModelConfig: the hyper-parameters of a decoder-only transformer, read from and written to a Hugging Face
// config.json (Qwen3-MoE layout and key names), plus the `tiny-*` presets used by CPU recipes and tests.
// It is not the model: it holds no tensors and knows nothing of LibTorch.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace grpo::policy {

struct ModelConfig {
  std::string model_type = "qwen3_moe";  // HF model_type; only qwen3_moe so far
  int64_t n_vocab = 0;                   // vocab_size
  int64_t n_embd = 0;                    // hidden_size (C)
  int64_t n_layer = 0;                   // num_hidden_layers
  int64_t n_head = 0;                    // num_attention_heads
  int64_t n_kv_head = 0;                 // num_key_value_heads (GQA: n_head % n_kv_head == 0)
  int64_t head_dim = 0;                  // head_dim (Qwen3 states it explicitly)
  int64_t n_ff = 0;                      // intermediate_size: the dense SwiGLU width
  int64_t n_ff_expert = 0;               // moe_intermediate_size: each expert's SwiGLU width
  int64_t n_expert = 0;                  // num_experts (0 = dense model)
  int64_t n_expert_used = 0;             // num_experts_per_tok (K)
  bool norm_topk_prob = true;            // renormalise the K routing weights to sum to 1
  int64_t decoder_sparse_step = 1;       // layer i is MoE iff (i+1) % step == 0 and i not in mlp_only_layers
  std::vector<int64_t> mlp_only_layers;  // layers forced dense
  double router_aux_loss_coef = 0.01;    // weight of the Switch load-balancing loss (Fedus et al. 2021)
  double rms_norm_eps = 1e-6;            // inside the sqrt
  double rope_theta = 10000.0;           // RoPE base
  int64_t max_position_embeddings = 0;   // longest sequence the model is meant for
  bool tie_word_embeddings = false;      // lm_head shares embed_tokens
  double initializer_range = 0.02;       // std of the normal init of fresh weights
  int64_t bos_token_id = -1;             // -1: none
  int64_t eos_token_id = -1;
  int64_t pad_token_id = -1;

  bool is_moe_layer(int64_t layer) const;
  // Throws grpo::Error naming the first inconsistent field.
  void validate() const;
  // Parameters in total and used per token (embedding and lm_head counted once each, untied).
  int64_t n_params() const;
  int64_t n_active_params() const;
};

// config.json <-> ModelConfig. Unknown model_type or an unsupported option stops with a message naming it.
ModelConfig read_model_config(const std::string& path);
ModelConfig parse_model_config(const std::string& json_text, const std::string& label);
std::string model_config_to_json(const ModelConfig& cfg);

// Presets for fresh models: "tiny-moe" (4 layers, C=128, 4 heads, 4 SwiGLU experts of width 256, top-2),
// "test-moe" (2 layers, C=32, for unit tests). n_vocab comes from the tokenizer.
ModelConfig model_preset(const std::string& name, int64_t n_vocab);

}  // namespace grpo::policy
