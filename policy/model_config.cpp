// config.json parsing and writing for ModelConfig, and the tiny presets.
#include "policy/model_config.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "kernels/check.h"

namespace grpo::policy {

using nlohmann::json;

bool ModelConfig::is_moe_layer(int64_t layer) const {
  if (n_expert <= 0) return false;
  if (std::find(mlp_only_layers.begin(), mlp_only_layers.end(), layer) != mlp_only_layers.end()) return false;
  return decoder_sparse_step > 0 && (layer + 1) % decoder_sparse_step == 0;
}

void ModelConfig::validate() const {
  GRPO_CHECK(model_type == "qwen3_moe", "model_type '", model_type,
             "' is not supported yet; supported: qwen3_moe");
  GRPO_CHECK(n_vocab > 0, "vocab_size must be > 0, got ", n_vocab);
  GRPO_CHECK(n_embd > 0, "hidden_size must be > 0, got ", n_embd);
  GRPO_CHECK(n_layer > 0, "num_hidden_layers must be > 0, got ", n_layer);
  GRPO_CHECK(n_head > 0 && n_kv_head > 0 && n_head % n_kv_head == 0, "num_attention_heads (", n_head,
             ") must be a positive multiple of num_key_value_heads (", n_kv_head, ")");
  GRPO_CHECK(head_dim > 0 && head_dim % 2 == 0, "head_dim must be positive and even (RoPE rotates pairs), got ",
             head_dim);
  GRPO_CHECK(n_expert >= 0, "num_experts must be >= 0, got ", n_expert);
  if (n_expert > 0) {
    GRPO_CHECK(n_expert_used > 0 && n_expert_used <= n_expert, "num_experts_per_tok (", n_expert_used,
               ") must be in [1, num_experts=", n_expert, "]");
    GRPO_CHECK(n_ff_expert > 0, "moe_intermediate_size must be > 0 for an MoE model, got ", n_ff_expert);
  }
  bool any_dense = false;
  for (int64_t i = 0; i < n_layer; ++i) any_dense = any_dense || !is_moe_layer(i);
  GRPO_CHECK(!any_dense || n_ff > 0, "intermediate_size must be > 0: some layers are dense");
  GRPO_CHECK(rms_norm_eps > 0, "rms_norm_eps must be > 0, got ", rms_norm_eps);
  GRPO_CHECK(rope_theta > 0, "rope_theta must be > 0, got ", rope_theta);
  GRPO_CHECK(max_position_embeddings > 0, "max_position_embeddings must be > 0, got ", max_position_embeddings);
}

namespace {
// Parameters of the model; with `active`, only the K experts a token uses are counted in MoE layers.
int64_t count_params(const ModelConfig& c, bool active) {
  const int64_t attn = c.n_embd * c.n_head * c.head_dim * 2 + c.n_embd * c.n_kv_head * c.head_dim * 2 + 2 * c.head_dim;
  int64_t total = c.n_vocab * c.n_embd * (c.tie_word_embeddings ? 1 : 2) + c.n_embd;
  for (int64_t i = 0; i < c.n_layer; ++i) {
    const int64_t experts = active ? c.n_expert_used : c.n_expert;
    const int64_t ffn =
        c.is_moe_layer(i) ? experts * 3 * c.n_embd * c.n_ff_expert + c.n_expert * c.n_embd : 3 * c.n_embd * c.n_ff;
    total += attn + ffn + 2 * c.n_embd;
  }
  return total;
}
}  // namespace

int64_t ModelConfig::n_params() const { return count_params(*this, false); }
int64_t ModelConfig::n_active_params() const { return count_params(*this, true); }

namespace {

template <typename T>
void read_key(const json& j, const char* key, T& out, const std::string& label, bool required) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    GRPO_CHECK(!required, label, ": missing key '", key, "'; hint: is this a Hugging Face config.json?");
    return;
  }
  try {
    out = it->get<T>();
  } catch (const json::exception& e) {
    GRPO_FAIL(label, ": key '", key, "' has the wrong type (", it->type_name(), ")");
  }
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
  read_key(j, "model_type", c.model_type, label, true);
  GRPO_CHECK(c.model_type == "qwen3_moe", label, ": model_type '", c.model_type,
             "' is not supported yet; supported: qwen3_moe");
  read_key(j, "vocab_size", c.n_vocab, label, true);
  read_key(j, "hidden_size", c.n_embd, label, true);
  read_key(j, "num_hidden_layers", c.n_layer, label, true);
  read_key(j, "num_attention_heads", c.n_head, label, true);
  c.n_kv_head = c.n_head;
  read_key(j, "num_key_value_heads", c.n_kv_head, label, false);
  c.head_dim = c.n_head > 0 ? c.n_embd / c.n_head : 0;
  read_key(j, "head_dim", c.head_dim, label, false);
  read_key(j, "intermediate_size", c.n_ff, label, false);
  read_key(j, "moe_intermediate_size", c.n_ff_expert, label, false);
  if (j.contains("num_local_experts")) read_key(j, "num_local_experts", c.n_expert, label, false);
  read_key(j, "num_experts", c.n_expert, label, false);
  read_key(j, "num_experts_per_tok", c.n_expert_used, label, false);
  read_key(j, "norm_topk_prob", c.norm_topk_prob, label, false);
  read_key(j, "decoder_sparse_step", c.decoder_sparse_step, label, false);
  read_key(j, "mlp_only_layers", c.mlp_only_layers, label, false);
  read_key(j, "router_aux_loss_coef", c.router_aux_loss_coef, label, false);
  read_key(j, "rms_norm_eps", c.rms_norm_eps, label, false);
  // transformers v5 moves rope_theta into rope_parameters; accept both forms.
  if (j.contains("rope_parameters") && j["rope_parameters"].is_object()) {
    const json& rp = j["rope_parameters"];
    read_key(rp, "rope_theta", c.rope_theta, label + " rope_parameters", false);
    std::string type = "default";
    read_key(rp, "rope_type", type, label + " rope_parameters", false);
    GRPO_CHECK(type == "default", label, ": rope_type '", type, "' is not supported yet");
  }
  read_key(j, "rope_theta", c.rope_theta, label, false);
  if (j.contains("rope_scaling") && !j["rope_scaling"].is_null()) {
    GRPO_FAIL(label, ": rope_scaling is not supported yet for ", c.model_type);
  }
  read_key(j, "max_position_embeddings", c.max_position_embeddings, label, true);
  read_key(j, "tie_word_embeddings", c.tie_word_embeddings, label, false);
  read_key(j, "initializer_range", c.initializer_range, label, false);
  read_key(j, "bos_token_id", c.bos_token_id, label, false);
  read_key(j, "eos_token_id", c.eos_token_id, label, false);
  read_key(j, "pad_token_id", c.pad_token_id, label, false);
  if (j.value("attention_bias", false)) GRPO_FAIL(label, ": attention_bias=true is not supported yet");
  if (j.value("use_sliding_window", false)) GRPO_FAIL(label, ": use_sliding_window=true is not supported yet");
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

std::string model_config_to_json(const ModelConfig& c) {
  json j;
  j["architectures"] = {"Qwen3MoeForCausalLM"};
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
  j["rope_theta"] = c.rope_theta;
  j["rope_scaling"] = nullptr;
  j["max_position_embeddings"] = c.max_position_embeddings;
  j["tie_word_embeddings"] = c.tie_word_embeddings;
  j["initializer_range"] = c.initializer_range;
  j["attention_bias"] = false;
  j["attention_dropout"] = 0.0;
  j["use_sliding_window"] = false;
  j["torch_dtype"] = "float32";
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
    GRPO_FAIL("unknown model preset '", name, "'; known presets: tiny-moe, test-moe");
  }
  c.validate();
  return c;
}

}  // namespace grpo::policy
