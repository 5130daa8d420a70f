// config.json parsing and writing for ModelConfig, and the tiny presets.
#include "policy/model_config.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <optional>
#include <sstream>

#include <nlohmann/json.hpp>

#include "kernels/check.h"

namespace grpo::policy {

using nlohmann::json;

double yarn_mscale(double scale, double m) { return scale <= 1.0 ? 1.0 : 0.1 * m * std::log(scale) + 1.0; }

bool ModelConfig::is_moe_layer(int64_t layer) const {
  if (n_expert <= 0 || layer < first_k_dense_replace) return false;
  if (moe_layer_freq <= 0 || layer % moe_layer_freq != 0) return false;
  if (std::find(mlp_only_layers.begin(), mlp_only_layers.end(), layer) != mlp_only_layers.end()) return false;
  return decoder_sparse_step > 0 && (layer + 1) % decoder_sparse_step == 0;
}

double ModelConfig::attention_scale() const {
  double scale = 1.0 / std::sqrt(static_cast<double>(k_dim()));
  // DeepSeek (HF yarn_apply_mscale): the softmax temperature follows the YaRN factor.
  if (mla() && rope.type != "default" && rope.mscale_all_dim != 0.0) {
    const double m = yarn_mscale(rope.factor, rope.mscale_all_dim);
    scale *= m * m;
  }
  return scale;
}

void ModelConfig::validate() const {
  const std::optional<Arch> row = arch_from_model_type(model_type);
  GRPO_CHECK(row.has_value(), "model_type '", model_type, "' is not supported; supported: ",
             supported_model_types_text());
  GRPO_CHECK(*row == arch, "model_type '", model_type, "' and arch '", info().model_type,
             "' disagree; hint: set both from one row of policy/arch.h");
  GRPO_CHECK(n_vocab > 0, "vocab_size must be > 0, got ", n_vocab);
  GRPO_CHECK(n_embd > 0, "hidden_size must be > 0, got ", n_embd);
  GRPO_CHECK(n_layer > 0, "num_hidden_layers must be > 0, got ", n_layer);
  GRPO_CHECK(n_head > 0, "num_attention_heads must be > 0, got ", n_head);
  if (mla()) {
    GRPO_CHECK(qk_nope_head_dim >= 0 && qk_rope_head_dim > 0 && qk_rope_head_dim % 2 == 0 && v_head_dim > 0,
               "MLA needs qk_rope_head_dim > 0 and even, qk_nope_head_dim >= 0 and v_head_dim > 0; got ",
               qk_rope_head_dim, ", ", qk_nope_head_dim, ", ", v_head_dim);
    GRPO_CHECK(q_lora_rank >= 0, "q_lora_rank must be >= 0 (null for a plain q_proj), got ", q_lora_rank);
  } else {
    GRPO_CHECK(n_kv_head > 0 && n_head % n_kv_head == 0, "num_attention_heads (", n_head,
               ") must be a positive multiple of num_key_value_heads (", n_kv_head, ")");
    GRPO_CHECK(head_dim > 0 && head_dim % 2 == 0, "head_dim must be positive and even (RoPE rotates pairs), got ",
               head_dim);
  }
  GRPO_CHECK(n_expert >= 0, "num_experts must be >= 0, got ", n_expert);
  if (n_expert > 0) {
    GRPO_CHECK(n_expert_used > 0 && n_expert_used <= n_expert, "num_experts_per_tok (", n_expert_used,
               ") must be in [1, num_experts=", n_expert, "]");
    GRPO_CHECK(n_ff_expert > 0, "moe_intermediate_size must be > 0 for an MoE model, got ", n_ff_expert);
    if (topk_method != TopkMethod::Greedy) {
      GRPO_CHECK(n_group > 0 && n_expert % n_group == 0 && topk_group > 0 && topk_group <= n_group, "n_group (",
                 n_group, ") must divide the ", n_expert, " experts and topk_group (", topk_group,
                 ") must be in [1, n_group]");
      GRPO_CHECK(n_expert_used <= topk_group * (n_expert / n_group), "num_experts_per_tok (", n_expert_used,
                 ") exceeds the experts of topk_group=", topk_group, " groups");
      GRPO_CHECK(topk_method != TopkMethod::GroupTop2Bias || n_expert / n_group >= 2,
                 "noaux_tc ranks groups by their top 2 experts; groups of ", n_expert / n_group, " are too small");
    }
  }
  bool any_dense = false;
  for (int64_t i = 0; i < n_layer; ++i) any_dense = any_dense || !is_moe_layer(i);
  GRPO_CHECK(!any_dense || n_ff > 0, "intermediate_size must be > 0: some layers are dense");
  GRPO_CHECK(rms_norm_eps > 0, "rms_norm_eps must be > 0, got ", rms_norm_eps);
  GRPO_CHECK(rope.theta > 0, "rope_theta must be > 0, got ", rope.theta);
  GRPO_CHECK(rope.type == "default" || rope.factor > 0, "rope factor must be > 0, got ", rope.factor);
  GRPO_CHECK(rope.original_max_position_embeddings >= 0, "original_max_position_embeddings must be > 0, got ",
             rope.original_max_position_embeddings);
  if (rope.type == "llama3") {
    GRPO_CHECK(rope.low_freq_factor > 0 && rope.high_freq_factor > rope.low_freq_factor, "llama3 rope needs 0 < "
               "low_freq_factor < high_freq_factor, got ", rope.low_freq_factor, " and ", rope.high_freq_factor);
  }
  GRPO_CHECK(max_position_embeddings > 0, "max_position_embeddings must be > 0, got ", max_position_embeddings);
}

namespace {
// Trainable parameters; with `active`, only the K routed experts a token uses are counted in MoE layers.
int64_t count_params(const ModelConfig& c, bool active) {
  const int64_t C = c.n_embd, H = c.n_head;
  int64_t attn = 0;
  if (c.mla()) {
    const int64_t qk = c.k_dim();
    attn += c.q_lora_rank > 0 ? C * c.q_lora_rank + (c.qkv_bias ? c.q_lora_rank : 0) + c.q_lora_rank +
                                    c.q_lora_rank * H * qk
                              : C * H * qk;
    attn += C * (c.kv_lora_rank + c.qk_rope_head_dim) + (c.qkv_bias ? c.kv_lora_rank + c.qk_rope_head_dim : 0);
    attn += c.kv_lora_rank + c.kv_lora_rank * H * (c.qk_nope_head_dim + c.v_head_dim);
    attn += H * c.v_head_dim * C + (c.o_bias ? C : 0);
  } else {
    const int64_t q = H * c.head_dim, kv = c.n_kv_head * c.head_dim;
    attn += C * (q + 2 * kv) + (c.qkv_bias ? q + 2 * kv : 0) + q * C + (c.o_bias ? C : 0);
    if (c.qk_norm == QKNorm::PerHead) attn += 2 * c.head_dim;
    if (c.qk_norm == QKNorm::Full) attn += q + kv;
  }
  int64_t total = c.n_vocab * C * (c.tie_word_embeddings ? 1 : 2) + C;
  for (int64_t i = 0; i < c.n_layer; ++i) {
    int64_t ffn = 3 * C * c.n_ff;
    if (c.is_moe_layer(i)) {
      const int64_t experts = active ? c.n_expert_used : c.n_expert;
      ffn = experts * 3 * C * c.n_ff_expert + c.n_expert * C + 3 * C * c.n_shared_expert * c.n_ff_expert;
    }
    total += attn + ffn + 2 * C;
  }
  return total;
}
}  // namespace

int64_t ModelConfig::n_params() const { return count_params(*this, false); }
int64_t ModelConfig::n_active_params() const { return count_params(*this, true); }

namespace {

// Reads j[key] into `out` when present and not null; a wrong type or a missing required key stops naming it.
template <typename T>
bool read_key(const json& j, const char* key, T& out, const std::string& label, bool required = false) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    GRPO_CHECK(!required, label, ": missing key '", key, "'; hint: is this a Hugging Face config.json?");
    return false;
  }
  try {
    out = it->get<T>();
  } catch (const json::exception&) {
    GRPO_FAIL(label, ": key '", key, "' has the wrong type (", it->type_name(), ")");
  }
  return true;
}

// A token id that config.json may give as a number or a list of numbers (eos of chat models): the first one.
void read_token_id(const json& j, const char* key, int64_t& out, const std::string& label) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return;
  if (it->is_array()) {
    if (it->empty()) return;
    GRPO_CHECK(it->front().is_number_integer(), label, ": key '", key, "' must hold integers");
    out = it->front().get<int64_t>();
    return;
  }
  read_key(j, key, out, label);
}

// Rotary settings: transformers v5 writes rope_parameters {rope_type, rope_theta, ...}; v4 files carry rope_theta
// plus rope_scaling {type | rope_type, factor, ...}. Both are accepted; an unknown type stops naming it.
void read_rope(const json& j, ModelConfig& c, const std::string& label) {
  read_key(j, "rope_theta", c.rope.theta, label);
  const json* params = nullptr;
  std::string where;
  if (j.contains("rope_parameters") && j["rope_parameters"].is_object()) {
    params = &j["rope_parameters"];
    where = label + " rope_parameters";
  } else if (j.contains("rope_scaling") && j["rope_scaling"].is_object()) {
    params = &j["rope_scaling"];
    where = label + " rope_scaling";
  } else if (j.contains("rope_scaling") && !j["rope_scaling"].is_null()) {
    GRPO_FAIL(label, ": rope_scaling must be an object or null");
  }
  double partial = 1.0;
  read_key(j, "partial_rotary_factor", partial, label);
  if (params != nullptr) {
    const json& p = *params;
    GRPO_CHECK(!p.contains("rope_theta") || !p["rope_theta"].is_object(), label,
               ": per-layer-type rope_parameters are not supported");
    read_key(p, "rope_theta", c.rope.theta, where);
    read_key(p, "type", c.rope.type, where);
    read_key(p, "rope_type", c.rope.type, where);
    read_key(p, "partial_rotary_factor", partial, where);
    const bool llama3 = c.rope.type == "llama3";
    if (c.rope.type == "linear" || c.rope.type == "yarn" || llama3) read_key(p, "factor", c.rope.factor, where, true);
    if (llama3) {
      read_key(p, "low_freq_factor", c.rope.low_freq_factor, where, true);
      read_key(p, "high_freq_factor", c.rope.high_freq_factor, where, true);
    }
    if (llama3 || c.rope.type == "yarn") {
      // NOTE: as transformers' standardize_rope_params: a top-level original_max_position_embeddings (Phi-3 style)
      // wins over the one in the rope dict; with neither, max_position_embeddings is used (0 here).
      read_key(p, "original_max_position_embeddings", c.rope.original_max_position_embeddings, where);
      read_key(j, "original_max_position_embeddings", c.rope.original_max_position_embeddings, label);
    }
    if (c.rope.type == "yarn") {
      read_key(p, "beta_fast", c.rope.beta_fast, where);
      read_key(p, "beta_slow", c.rope.beta_slow, where);
      read_key(p, "mscale", c.rope.mscale, where);
      read_key(p, "mscale_all_dim", c.rope.mscale_all_dim, where);
      read_key(p, "attention_factor", c.rope.attention_factor, where);
      read_key(p, "truncate", c.rope.truncate, where);
    }
    GRPO_CHECK(c.rope.type == "default" || c.rope.type == "linear" || c.rope.type == "yarn" || llama3, where,
               ": rope type '", c.rope.type, "' is not supported; supported: default, linear, yarn, llama3");
  }
  GRPO_CHECK(partial == 1.0, label, ": partial_rotary_factor=", partial, " is not supported (only 1.0)");
}

// An option whose non-default value we do not implement stops the load naming it.
template <typename T>
void reject_unless(const json& j, const char* key, const T& supported, const std::string& label, const char* why) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return;
  bool same = false;
  try {
    same = it->get<T>() == supported;
  } catch (const json::exception&) {
  }
  GRPO_CHECK(same, label, ": ", key, "=", it->dump(), " is not supported (", why, ")");
}

void read_moe_common(const json& j, ModelConfig& c, const std::string& label) {
  read_key(j, "num_experts_per_tok", c.n_expert_used, label, true);
  read_key(j, "router_aux_loss_coef", c.router_aux_loss_coef, label);
}

// DeepSeek-V2/V3: multi-head latent attention, shared experts and their routers.
void read_deepseek(const json& j, ModelConfig& c, const std::string& label) {
  const bool v3 = c.arch == Arch::DeepseekV3;
  read_key(j, "q_lora_rank", c.q_lora_rank, label);
  read_key(j, "kv_lora_rank", c.kv_lora_rank, label, true);
  read_key(j, "qk_nope_head_dim", c.qk_nope_head_dim, label, true);
  read_key(j, "qk_rope_head_dim", c.qk_rope_head_dim, label, true);
  read_key(j, "v_head_dim", c.v_head_dim, label, true);
  GRPO_CHECK(c.kv_lora_rank > 0, label, ": kv_lora_rank must be > 0, got ", c.kv_lora_rank);
  c.head_dim = c.qk_rope_head_dim;
  c.n_kv_head = c.n_head;  // MLA expands the latent to every head
  c.rope.interleaved = true;
  if (v3) read_key(j, "rope_interleave", c.rope.interleaved, label);
  read_key(j, "n_routed_experts", c.n_expert, label);
  read_key(j, "n_shared_experts", c.n_shared_expert, label);
  read_key(j, "moe_intermediate_size", c.n_ff_expert, label, c.n_expert > 0);
  read_key(j, "first_k_dense_replace", c.first_k_dense_replace, label);
  read_key(j, "moe_layer_freq", c.moe_layer_freq, label);
  read_key(j, "n_group", c.n_group, label);
  read_key(j, "topk_group", c.topk_group, label);
  read_key(j, "routed_scaling_factor", c.routed_scaling_factor, label);
  read_key(j, "num_nextn_predict_layers", c.n_mtp_layers, label);
  if (c.n_expert > 0) read_moe_common(j, c, label);
  std::string method = v3 ? "noaux_tc" : "greedy";
  std::string scoring = v3 ? "sigmoid" : "softmax";
  read_key(j, "topk_method", method, label);
  read_key(j, "scoring_func", scoring, label);
  if (v3) {
    GRPO_CHECK(method == "noaux_tc" && scoring == "sigmoid", label, ": deepseek_v3 routing is noaux_tc with "
               "sigmoid scores; got topk_method='", method, "', scoring_func='", scoring, "'");
    c.router_score = RouterScore::Sigmoid;
    c.topk_method = TopkMethod::GroupTop2Bias;
    c.norm_topk_prob = true;  // HF default for deepseek_v3
    read_key(j, "norm_topk_prob", c.norm_topk_prob, label);
  } else {
    GRPO_CHECK(scoring == "softmax", label, ": deepseek_v2 scoring_func '", scoring, "' is not supported (softmax)");
    GRPO_CHECK(method == "greedy" || method == "group_limited_greedy", label, ": deepseek_v2 topk_method '",
               method, "' is not supported; supported: greedy, group_limited_greedy");
    c.topk_method = method == "greedy" ? TopkMethod::Greedy : TopkMethod::GroupMax;
    // NOTE: transformers' DeepseekV2 router never renormalises (norm_topk_prob is ignored there); we match it.
    c.norm_topk_prob = false;
  }
  if (c.n_group <= 0) c.n_group = 1;
  if (c.topk_group <= 0) c.topk_group = 1;
}

}  // namespace

ModelConfig parse_model_config(const std::string& json_text, const std::string& label) {
  json j;
  try {
    j = json::parse(json_text);
  } catch (const json::parse_error& e) {
    GRPO_FAIL(label, ": invalid JSON (", e.what(), ")");
  }
  GRPO_CHECK(j.is_object(), label, ": expected a JSON object");
  ModelConfig c;
  c.source_json = json_text;
  read_key(j, "model_type", c.model_type, label, true);
  const std::optional<Arch> arch = arch_from_model_type(c.model_type);
  GRPO_CHECK(arch.has_value(), label, ": model_type '", c.model_type, "' is not supported; supported: ",
             supported_model_types_text());
  c.arch = *arch;
  const ArchInfo& info = c.info();

  // Keys every architecture shares.
  read_key(j, "vocab_size", c.n_vocab, label, true);
  read_key(j, "hidden_size", c.n_embd, label, true);
  read_key(j, "num_hidden_layers", c.n_layer, label, true);
  read_key(j, "num_attention_heads", c.n_head, label, true);
  c.n_kv_head = c.n_head;
  read_key(j, "num_key_value_heads", c.n_kv_head, label);
  c.head_dim = c.n_head > 0 ? c.n_embd / c.n_head : 0;
  if (!info.mla) read_key(j, "head_dim", c.head_dim, label);
  read_key(j, "intermediate_size", c.n_ff, label);
  read_key(j, "rms_norm_eps", c.rms_norm_eps, label);
  read_key(j, "max_position_embeddings", c.max_position_embeddings, label, true);
  read_key(j, "tie_word_embeddings", c.tie_word_embeddings, label);
  read_key(j, "initializer_range", c.initializer_range, label);
  read_token_id(j, "bos_token_id", c.bos_token_id, label);
  read_token_id(j, "eos_token_id", c.eos_token_id, label);
  read_token_id(j, "pad_token_id", c.pad_token_id, label);
  read_rope(j, c, label);
  reject_unless(j, "hidden_act", std::string("silu"), label, "only silu SwiGLU MLPs");
  reject_unless(j, "quantization_config", json(), label, "quantized checkpoints; dequantise to bf16 first");

  // The row's facts.
  switch (info.sliding_window) {
    case SlidingWindow::None: break;
    case SlidingWindow::UseFlag:
      reject_unless(j, "use_sliding_window", false, label, "sliding-window attention");
      break;
    case SlidingWindow::WindowKey:
      reject_unless(j, "sliding_window", json(), label,
                    "sliding-window attention; hint: checkpoints trained with full attention have it null");
      break;
  }
  if (info.mlp_bias_key) reject_unless(j, "mlp_bias", false, label, "SwiGLU MLPs without biases only");
  switch (info.attention_bias) {
    case AttentionBias::Never: c.qkv_bias = c.o_bias = false; break;
    case AttentionBias::QkvAlways: c.qkv_bias = true, c.o_bias = false; break;
    case AttentionBias::FromKey: {
      bool attention_bias = false;
      read_key(j, "attention_bias", attention_bias, label);
      c.qkv_bias = c.o_bias = attention_bias;
      break;
    }
  }
  c.qk_norm = info.qk_norm;
  c.norm_topk_prob = false;  // the HF default of the models that have the key

  // The keys only some architectures have: the one switch over Arch.
  switch (c.arch) {
    case Arch::Qwen2:
    case Arch::Qwen3:
    case Arch::Llama:
    case Arch::Mistral:
      break;  // dense GQA: the shared keys and the row's facts say it all
    case Arch::Qwen3Moe:
      read_key(j, "num_local_experts", c.n_expert, label);
      read_key(j, "num_experts", c.n_expert, label);
      read_key(j, "moe_intermediate_size", c.n_ff_expert, label, true);
      read_key(j, "norm_topk_prob", c.norm_topk_prob, label);
      read_key(j, "decoder_sparse_step", c.decoder_sparse_step, label);
      read_key(j, "mlp_only_layers", c.mlp_only_layers, label);
      read_moe_common(j, c, label);
      break;
    case Arch::Mixtral:
      read_key(j, "num_local_experts", c.n_expert, label, true);
      c.n_ff_expert = c.n_ff;  // Mixtral's intermediate_size is each expert's width; no dense layers
      c.norm_topk_prob = true;  // always renormalised
      read_moe_common(j, c, label);
      reject_unless(j, "router_jitter_noise", 0.0, label, "router jitter");
      break;
    case Arch::Olmoe:
      read_key(j, "num_experts", c.n_expert, label, true);
      c.n_ff_expert = c.n_ff;  // OLMoE's intermediate_size is each expert's width; every layer is MoE
      read_key(j, "clip_qkv", c.clip_qkv, label);
      GRPO_CHECK(c.clip_qkv >= 0, label, ": clip_qkv must be >= 0, got ", c.clip_qkv);
      read_key(j, "norm_topk_prob", c.norm_topk_prob, label);
      read_moe_common(j, c, label);
      break;
    case Arch::DeepseekV2:
    case Arch::DeepseekV3:
      read_deepseek(j, c, label);
      break;
  }
  try {
    c.validate();
  } catch (const Error& e) {
    GRPO_FAIL(label, ": ", e.what());
  }
  return c;
}

ModelConfig read_model_config(const std::string& path) {
  std::ifstream in(path);
  GRPO_CHECK(in.good(), "cannot open ", path, "; hint: a checkpoint directory holds config.json");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_model_config(ss.str(), path);
}

std::string model_config_to_json(const ModelConfig& c, const std::string& dtype) {
  json j;
  if (!c.source_json.empty()) {
    // Written back as read: only the dtype changes (both the v4 and the v5 key).
    j = json::parse(c.source_json);
    j[j.contains("dtype") ? "dtype" : "torch_dtype"] = dtype;
    return j.dump(2) + "\n";
  }
  GRPO_CHECK(c.arch == Arch::Qwen3Moe, "model_config_to_json: a config without its config.json text must be "
             "qwen3_moe (the presets), got ", c.model_type);
  j["architectures"] = {c.info().hf_class};
  j["model_type"] = c.model_type;
  j["vocab_size"] = c.n_vocab;
  j["hidden_size"] = c.n_embd;
  j["num_hidden_layers"] = c.n_layer;
  j["num_attention_heads"] = c.n_head;
  j["num_key_value_heads"] = c.n_kv_head;
  j["head_dim"] = c.head_dim;
  j["intermediate_size"] = c.n_ff;
  j["moe_intermediate_size"] = c.n_ff_expert;
  j["num_experts"] = c.n_expert;
  j["num_experts_per_tok"] = c.n_expert_used;
  j["norm_topk_prob"] = c.norm_topk_prob;
  j["decoder_sparse_step"] = c.decoder_sparse_step;
  j["mlp_only_layers"] = c.mlp_only_layers;
  j["router_aux_loss_coef"] = c.router_aux_loss_coef;
  j["output_router_logits"] = false;
  j["hidden_act"] = "silu";
  j["rms_norm_eps"] = c.rms_norm_eps;
  j["rope_theta"] = c.rope.theta;
  j["rope_scaling"] = nullptr;
  j["max_position_embeddings"] = c.max_position_embeddings;
  j["tie_word_embeddings"] = c.tie_word_embeddings;
  j["initializer_range"] = c.initializer_range;
  j["attention_bias"] = false;
  j["attention_dropout"] = 0.0;
  j["use_sliding_window"] = false;
  j["torch_dtype"] = dtype;
  if (c.bos_token_id >= 0) j["bos_token_id"] = c.bos_token_id;
  if (c.eos_token_id >= 0) j["eos_token_id"] = c.eos_token_id;
  if (c.pad_token_id >= 0) j["pad_token_id"] = c.pad_token_id;
  return j.dump(2) + "\n";
}

ModelConfig model_preset(const std::string& name, int64_t n_vocab) {
  ModelConfig c;
  c.n_vocab = n_vocab;
  if (name == "tiny-moe") {
    // The CPU Countdown model: ~1.7M parameters, 4 SwiGLU experts, top-2 routing.
    c.n_embd = 128, c.n_layer = 4, c.n_head = 4, c.n_kv_head = 2, c.head_dim = 32;
    c.n_ff = 512, c.n_ff_expert = 256, c.n_expert = 4, c.n_expert_used = 2;
    c.max_position_embeddings = 256;
  } else if (name == "test-moe") {
    // Unit-test size: small enough that every test runs in milliseconds, large enough to exercise GQA and top-k.
    c.n_embd = 32, c.n_layer = 2, c.n_head = 4, c.n_kv_head = 2, c.head_dim = 8;
    c.n_ff = 64, c.n_ff_expert = 48, c.n_expert = 4, c.n_expert_used = 2;
    c.max_position_embeddings = 128;
  } else {
    // Tiny random members of the families real checkpoints come from, written as config.json text so they pass the
    // same parser (and are saved back) as a downloaded checkpoint: for end-to-end tests with a real tokenizer.
    json j = {{"vocab_size", n_vocab},       {"hidden_size", 64},           {"num_hidden_layers", 2},
              {"num_attention_heads", 4},    {"num_key_value_heads", 2},    {"intermediate_size", 128},
              {"max_position_embeddings", 2048}, {"rms_norm_eps", 1e-6},    {"rope_theta", 1000000.0},
              {"tie_word_embeddings", true}, {"hidden_act", "silu"},        {"initializer_range", 0.02},
              {"torch_dtype", "float32"}};
    if (name == "tiny-qwen2") {
      j["model_type"] = "qwen2";
      j["architectures"] = {"Qwen2ForCausalLM"};
      j["use_sliding_window"] = false;
    } else if (name == "tiny-qwen3") {
      j["model_type"] = "qwen3";
      j["architectures"] = {"Qwen3ForCausalLM"};
      j["head_dim"] = 16;
      j["use_sliding_window"] = false;
    } else if (name == "tiny-qwen3-moe") {
      j["model_type"] = "qwen3_moe";
      j["architectures"] = {"Qwen3MoeForCausalLM"};
      j["head_dim"] = 16;
      j["moe_intermediate_size"] = 64;
      j["num_experts"] = 4;
      j["num_experts_per_tok"] = 2;
      j["norm_topk_prob"] = true;
      j["use_sliding_window"] = false;
    } else if (name == "tiny-llama") {
      j["model_type"] = "llama";
      j["architectures"] = {"LlamaForCausalLM"};
      j["rope_theta"] = 500000.0;
      j["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 1.0},
                           {"high_freq_factor", 4.0}, {"original_max_position_embeddings", 256}};
    } else {
      GRPO_FAIL("unknown model preset '", name, "'; known presets: tiny-moe, test-moe, tiny-qwen2, tiny-qwen3, "
                "tiny-qwen3-moe, tiny-llama");
    }
    return parse_model_config(j.dump(2), "preset " + name);
  }
  c.validate();
  return c;
}

}  // namespace grpo::policy
