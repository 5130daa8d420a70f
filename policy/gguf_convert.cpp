// GGUF llama model -> Policy (config, dequantized weights under Hugging Face names, tokenizer, chat template).
// See gguf_convert.h. Not here: the file format (gguf.h) and the block decoding (gguf_quants.h).
#include "policy/gguf_convert.h"

#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "kernels/check.h"
#include "policy/gguf_quants.h"
#include "policy/tokenizer/bpe_tokenizer.h"
#include "policy/tokenizer/tokenizer_files.h"

namespace grpo::policy {
namespace {

// llama.cpp's llama tensor names (llama-arch.cpp) -> transformers' LlamaForCausalLM names; {N} is the layer.
struct NameRule {
  const char* gguf;
  const char* hf;
};
constexpr NameRule kLlamaNames[] = {
    {"token_embd.weight", "model.embed_tokens.weight"},
    {"output_norm.weight", "model.norm.weight"},
    {"output.weight", "lm_head.weight"},
    {"blk.{N}.attn_norm.weight", "model.layers.{N}.input_layernorm.weight"},
    {"blk.{N}.attn_q.weight", "model.layers.{N}.self_attn.q_proj.weight"},
    {"blk.{N}.attn_k.weight", "model.layers.{N}.self_attn.k_proj.weight"},
    {"blk.{N}.attn_v.weight", "model.layers.{N}.self_attn.v_proj.weight"},
    {"blk.{N}.attn_output.weight", "model.layers.{N}.self_attn.o_proj.weight"},
    {"blk.{N}.ffn_norm.weight", "model.layers.{N}.post_attention_layernorm.weight"},
    {"blk.{N}.ffn_gate.weight", "model.layers.{N}.mlp.gate_proj.weight"},
    {"blk.{N}.ffn_up.weight", "model.layers.{N}.mlp.up_proj.weight"},
    {"blk.{N}.ffn_down.weight", "model.layers.{N}.mlp.down_proj.weight"},
};

int64_t need_int(const GgufHeader& h, const std::string& key) {
  const auto v = h.get_int(key);
  GRPO_CHECK(v.has_value(), h.label, ": key ", key, " is missing; hint: is this a complete llama GGUF model file?");
  GRPO_CHECK(*v > 0, h.label, ": key ", key, " = ", *v, " must be positive");
  return *v;
}

// The shortest decimal that reads back as the same float32 (9.99999974738e-06 -> 1e-05): GGUF stores f32, and
// config.json should say what the model was trained with.
double shortest_float(double v) {
  const float f = static_cast<float>(v);
  char buf[32];
  for (int digits = 1; digits <= 9; ++digits) {
    std::snprintf(buf, sizeof(buf), "%.*g", digits, double(f));
    if (std::strtof(buf, nullptr) == f) break;
  }
  return std::strtod(buf, nullptr);
}

// "blk.12.attn_q.weight" -> ("blk.{N}.attn_q.weight", 12); other names come back with layer -1.
std::pair<std::string, int64_t> layer_pattern(const std::string& name) {
  if (name.rfind("blk.", 0) != 0) return {name, -1};
  size_t i = 4;
  while (i < name.size() && name[i] >= '0' && name[i] <= '9') ++i;
  if (i == 4 || i > 4 + 6 || i >= name.size() || name[i] != '.' || (name[4] == '0' && i > 5)) return {name, -1};
  return {"blk.{N}" + name.substr(i), std::stoll(name.substr(4, i - 4))};
}

// [rows, C] with llama.cpp's interleaved rows per head -> rotate-half rows (the inverse of convert_hf_to_gguf.py's
// LlamaModel.permute; transformers' GGUF loader applies the same reverse): row h*d + 2j + s -> h*d + s*d/2 + j.
at::Tensor unpermute_rows(const at::Tensor& w, int64_t n_head) {
  const int64_t rows = w.size(0), d = rows / n_head;
  return w.reshape({n_head, d / 2, 2, -1}).transpose(1, 2).reshape(w.sizes()).contiguous();
}

}  // namespace

std::string hf_tensor_name(const std::string& gguf_name, const GgufHeader& h) {
  const auto [pattern, layer] = layer_pattern(gguf_name);
  for (const NameRule& r : kLlamaNames) {
    if (pattern != r.gguf) continue;
    std::string hf = r.hf;
    if (layer >= 0) {
      const int64_t n_layer = need_int(h, "llama.block_count");
      GRPO_CHECK(layer < n_layer, h.label, ": tensor '", gguf_name, "' is in layer ", layer,
                 " but llama.block_count is ", n_layer, "; hint: the file is corrupt");
      hf.replace(hf.find("{N}"), 3, std::to_string(layer));
    }
    return hf;
  }
  GRPO_CHECK(gguf_name != "rope_freqs.weight", h.label, ": tensor rope_freqs.weight (Llama 3.x RoPE scaling as "
             "per-frequency factors) is not supported; hint: convert this model from its Hugging Face checkpoint");
  GRPO_FAIL(h.label, ": tensor '", gguf_name, "' is not a llama tensor grpo maps to Hugging Face names; hint: known "
            "are token_embd, output_norm, output and blk.N.{attn_norm,attn_q,attn_k,attn_v,attn_output,ffn_norm,"
            "ffn_gate,ffn_up,ffn_down} (no biases, no experts)");
}

std::string gguf_config_json(const GgufHeader& h) {
  const std::string arch = h.get_string("general.architecture").value_or("");
  GRPO_CHECK(arch == "llama", h.label, ": general.architecture is '", arch, "'; only 'llama' GGUF files are "
             "converted; hint: convert this model from its Hugging Face checkpoint instead");
  const int64_t experts = h.get_int("llama.expert_count").value_or(0);
  GRPO_CHECK(experts == 0, h.label, ": llama.expert_count = ", experts, ": mixture-of-experts llama GGUF files are not "
             "converted; hint: convert this model from its Hugging Face checkpoint instead");
  const GgufTensorInfo* embd = h.find_tensor("token_embd.weight");
  GRPO_CHECK(embd != nullptr && embd->ne.size() == 2, h.label, ": no 2-d token_embd.weight; hint: is this a "
             "complete model file (not a vocabulary-only one)?");
  const int64_t n_embd = need_int(h, "llama.embedding_length"), n_head = need_int(h, "llama.attention.head_count");
  const int64_t n_kv_head = h.get_int("llama.attention.head_count_kv").value_or(n_head);
  const int64_t head_dim = h.get_int("llama.attention.key_length").value_or(n_embd / n_head);
  const int64_t v_dim = h.get_int("llama.attention.value_length").value_or(head_dim);
  GRPO_CHECK(v_dim == head_dim, h.label, ": llama.attention.value_length ", v_dim, " differs from key_length ",
             head_dim, ", which transformers' llama cannot express");
  const int64_t rope_dim = h.get_int("llama.rope.dimension_count").value_or(head_dim);
  GRPO_CHECK(rope_dim == head_dim, h.label, ": llama.rope.dimension_count ", rope_dim, " differs from the head ",
             "dimension ", head_dim, " (partial rotary is not supported)");
  const auto eps = h.get_float("llama.attention.layer_norm_rms_epsilon");
  GRPO_CHECK(eps.has_value(), h.label, ": key llama.attention.layer_norm_rms_epsilon is missing");

  nlohmann::json j;
  j["architectures"] = {"LlamaForCausalLM"};
  j["model_type"] = "llama";
  j["vocab_size"] = embd->ne[1];
  j["hidden_size"] = n_embd;
  j["intermediate_size"] = need_int(h, "llama.feed_forward_length");
  j["num_hidden_layers"] = need_int(h, "llama.block_count");
  j["num_attention_heads"] = n_head;
  j["num_key_value_heads"] = n_kv_head;
  j["head_dim"] = head_dim;
  j["hidden_act"] = "silu";
  j["max_position_embeddings"] = need_int(h, "llama.context_length");
  j["rms_norm_eps"] = shortest_float(*eps);
  j["rope_theta"] = shortest_float(h.get_float("llama.rope.freq_base").value_or(10000.0));
  const std::string scaling = h.get_string("llama.rope.scaling.type").value_or("none");
  if (scaling == "linear") {
    const auto factor = h.get_float("llama.rope.scaling.factor");
    GRPO_CHECK(factor.has_value(), h.label, ": linear rope scaling without llama.rope.scaling.factor");
    j["rope_scaling"] = {{"rope_type", "linear"}, {"factor", shortest_float(*factor)}};
  } else {
    GRPO_CHECK(scaling == "none", h.label, ": llama.rope.scaling.type '", scaling, "' is not supported; supported: "
               "none, linear");
    j["rope_scaling"] = nullptr;
  }
  j["tie_word_embeddings"] = h.find_tensor("output.weight") == nullptr;
  j["attention_bias"] = false;
  j["mlp_bias"] = false;
  j["initializer_range"] = 0.02;
  for (const auto& [key, name] : {std::pair{"tokenizer.ggml.bos_token_id", "bos_token_id"},
                                  std::pair{"tokenizer.ggml.eos_token_id", "eos_token_id"},
                                  std::pair{"tokenizer.ggml.padding_token_id", "pad_token_id"}}) {
    const auto id = h.get_int(key);
    j[name] = id.has_value() ? nlohmann::json(*id) : nlohmann::json(nullptr);
  }
  j["torch_dtype"] = "float32";
  return j.dump(2) + "\n";
}

Policy policy_from_gguf(const std::string& path, at::ScalarType dtype) {
  const auto file = GgufFile::open(path);
  const GgufHeader& h = file->header();
  Policy p;
  p.config = parse_model_config(gguf_config_json(h), path + " (config.json from its metadata)");
  p.tokenizer = std::make_shared<BpeTokenizer>(read_gguf_bpe(path));
  GRPO_CHECK(p.tokenizer->vocab_size() <= p.config.n_vocab, path, ": the vocabulary has ", p.tokenizer->vocab_size(),
             " tokens but token_embd.weight only ", p.config.n_vocab, " rows; hint: the file is corrupt");
  p.chat_template_text = h.get_string("tokenizer.chat_template").value_or("");
  GRPO_CHECK(p.tokenizer->eos_id() >= 0, path, ": no tokenizer.ggml.eos_token_id; hint: generation needs an EOS id");
  p.eos_ids = {p.tokenizer->eos_id()};

  // Every GGUF tensor under its HF name; each must fill one parameter of the model config.json describes.
  std::map<std::string, const GgufTensorInfo*> by_hf;
  for (const GgufTensorInfo& t : h.tensors) by_hf[hf_tensor_name(t.name, h)] = &t;
  p.model = Transformer(p.config, /*seed=*/0, /*init_weights=*/false);
  at::NoGradGuard no_grad;
  std::set<std::string> unused;
  for (const auto& [name, t] : by_hf) unused.insert(name);
  for (auto& param : p.model->named_parameters()) {
    const std::string& name = param.key();
    auto it = by_hf.find(name);
    GRPO_CHECK(it != by_hf.end(), path, ": no tensor for ", name, "; hint: is this a complete llama model file?");
    const GgufTensorInfo& t = *it->second;
    GRPO_CHECK(t.shape() == param.value().sizes().vec(), path, ": tensor '", t.name, "' has shape ",
               at::IntArrayRef(t.shape()), " (GGUF ne ", at::IntArrayRef(t.ne), "), ", name, " needs ",
               param.value().sizes(), "; hint: the metadata and the tensors disagree");
    GRPO_CHECK(can_dequantize(t.type), path, ": tensor '", t.name, "' has type ", t.type_name(),
               ", which grpo cannot dequantize; hint: F32, F16, BF16, Q8_0, Q4_0 and Q4_1 are read (re-quantize the "
               "model to one of them with llama-quantize, or convert from the Hugging Face checkpoint)");
    // Rows of ne[0] elements, dequantized in parallel: a row is a whole number of blocks.
    at::Tensor w = at::empty(t.shape(), at::kFloat);
    const int64_t row = t.ne[0], rows = row == 0 ? 0 : t.numel / row;
    const GgmlTypeInfo* ti = ggml_type_info(t.type);
    const uint8_t* src = file->data(t);
    float* dst = w.data_ptr<float>();
    at::parallel_for(0, rows, 64, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r)
        dequantize_row(t.type, src + r * (row / ti->block_size) * ti->type_size, dst + r * row, row, t.name);
    });
    if (t.name.find(".attn_q.") != std::string::npos) w = unpermute_rows(w, p.config.n_head);
    if (t.name.find(".attn_k.") != std::string::npos) w = unpermute_rows(w, p.config.n_kv_head);
    param.value().set_data(w.to(dtype));
    unused.erase(name);
  }
  GRPO_CHECK(unused.empty(), path, ": tensor '", by_hf.at(*unused.begin())->name, "' (", *unused.begin(),
             ") does not belong to the model its metadata describes (", unused.size(), " unexpected)");
  GRPO_CHECK(p.model->named_buffers().size() == 0, path, ": the model has buffers a GGUF file does not carry");
  p.model->set_output_vocab(p.tokenizer->vocab_size());
  return p;
}

}  // namespace grpo::policy
