// The architectures grpo.cpp reads, as one explicit table (in the manner of llama.cpp's llama-arch.cpp): the
// `Arch` enum, each row's Hugging Face model_type and class name, and the per-architecture facts the rest of
// policy/ reads (MoE tensor names, q/k norm, which attention projections carry biases, the sliding-window key).
// It is not the config.json parser: model_config.cpp reads each architecture's own keys in one switch over Arch.
// Torch-free.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace grpo::policy {

enum class Arch { Qwen2, Qwen3, Qwen3Moe, Mixtral, Olmoe, DeepseekV2, DeepseekV3, Llama, Mistral };

// Where RMSNorm is applied to queries and keys before RoPE.
enum class QKNorm {
  None,
  PerHead,  // Qwen3: RMSNorm(head_dim) on each head
  Full,     // OLMoE: RMSNorm over the whole q (n_head*head_dim) and k (n_kv_head*head_dim) projections
};

// Which attention projections carry a bias.
enum class AttentionBias {
  Never,      // Mistral, Mixtral: none, whatever config.json says
  QkvAlways,  // Qwen2: q/k/v always, o_proj never (hard-coded in transformers' Qwen2Attention)
  FromKey,    // `attention_bias` (default false) puts one on every projection, o_proj included
};

// How config.json may ask for sliding-window attention (which we do not implement; a request is refused).
enum class SlidingWindow {
  None,       // the architecture has none
  UseFlag,    // Qwen2/Qwen3: `sliding_window` is honoured only when `use_sliding_window` is true
  WindowKey,  // Mistral/Mixtral: any non-null `sliding_window` is a window
};

struct ArchInfo {
  Arch arch;
  const char* model_type;  // HF config.json "model_type"
  const char* hf_class;    // HF config.json "architectures"[0], written for configs built without a config.json
  bool mla;                // DeepSeek multi-head latent attention (else grouped-query attention)
  bool moe;                // may have sparse layers (which ones: the MoE keys of config.json)
  QKNorm qk_norm;
  AttentionBias attention_bias;
  SlidingWindow sliding_window;
  bool mlp_bias_key;       // Llama: `mlp_bias` exists (true is refused: SwiGLU without biases only)
  // Tensor names of a sparse layer: the block (model.layers.{i}.<block>) and each expert's three projections
  // (<block>.experts.{j}.<gate|up|down>). Dense MLPs are always mlp.{gate,up,down}_proj.
  const char* moe_block;
  const char* expert_gate;
  const char* expert_up;
  const char* expert_down;
};

// The row of one architecture.
const ArchInfo& arch_info(Arch arch);
// Every row, in enum order.
const std::vector<ArchInfo>& arch_table();
// The Arch of an HF model_type; nullopt for one we do not read.
std::optional<Arch> arch_from_model_type(const std::string& model_type);
// "qwen2, qwen3, ..." for error messages.
std::string supported_model_types_text();

}  // namespace grpo::policy
