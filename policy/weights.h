// A policy on disk: a Hugging Face checkpoint directory (config.json, model.safetensors or shards with an
// index, tokenizer files) read into a Transformer + Tokenizer, and written back in the same layout and names,
// so transformers loads what we save.
#pragma once

#include <memory>
#include <string>

#include "policy/tokenizer/tokenizer.h"
#include "policy/transformer.h"

namespace grpo::policy {

// A model with everything needed to generate from it and save it back as a complete Hugging Face directory.
struct Policy {
  ModelConfig config;
  Transformer model{nullptr};
  std::shared_ptr<Tokenizer> tokenizer;
  std::vector<int64_t> eos_ids;    // generation stops at any: generation_config.json + config.json + the tokenizer's
  std::string chat_template_text;  // the checkpoint's Jinja chat template ("" = none: a base model)
  std::string source_dir;          // where it was loaded from ("" = fresh); save copies side files from here
};

// "float32" | "bfloat16" | "float16" (also f32, bf16, f16) -> the ATen dtype; "auto" -> `fallback`.
at::ScalarType parse_model_dtype(const std::string& name, at::ScalarType fallback);
const char* model_dtype_name(at::ScalarType dtype);  // "float32", as config.json writes it
// The floating dtype most of a checkpoint's weights are stored in (F32/BF16/F16), for dtype "auto".
at::ScalarType checkpoint_dtype(const std::string& dir);

// Every parameter and buffer must be present with its shape (F32, BF16 or F16 on disk; converted to the model's
// dtype); a missing or unexpected tensor stops with its name. Tensors transformers also skips are ignored:
// DeepSeek-V3's multi-token-prediction layers (model.layers.{n_layer..}) and stale rotary_emb.inv_freq buffers.
void load_weights(Transformer& model, const std::string& dir);
// config.json + weights, no tokenizer: for checkpoints used as models only (reference models, tests, info).
Transformer load_model(const std::string& dir, const at::Device& device, at::ScalarType dtype = at::kFloat);
// config.json + weights + tokenizer (+ generation_config.json, chat template), in float32. The model's output is
// limited to the tokenizer's ids (TransformerImpl::set_output_vocab). Throws naming the file for a directory
// without a tokenizer or with a tokenizer larger than the embedding.
Policy load_policy(const std::string& dir, const at::Device& device);
// EOS ids of a checkpoint directory: generation_config.json's and config.json's eos_token_id (a number or a
// list), in that order, without repeats; empty when neither names one.
std::vector<int64_t> read_eos_ids(const std::string& dir);

// Writes config.json and the weights (in the model's dtype; shards with an index above max_shard_bytes) into
// `dir`, which must exist; `tokenizer` (may be null) adds its files.
void save_model(const Transformer& model, const Tokenizer* tokenizer, const std::string& dir,
                uint64_t max_shard_bytes = 5ull << 30);
void save_policy(const Transformer& model, const Tokenizer& tokenizer, const std::string& dir);
// A complete Hugging Face model directory in `dir` (which must exist): config.json, weights, tokenizer files, the
// chat template and generation_config.json (copied from p.source_dir, or written from p.chat_template_text into
// tokenizer_config.json and from p.eos_ids), so transformers and vLLM load it as is.
void save_policy(const Policy& p, const std::string& dir, uint64_t max_shard_bytes = 5ull << 30);
// save_model into a fresh sibling temporary directory, then renamed to `dir` (which must not exist): a crash
// leaves either no `dir` or a complete one. With `side_files_from`, the tokenizer and generation files found
// there (kSideFiles) are copied along.
void save_model_atomic(const Transformer& model, const Tokenizer* tokenizer, const std::string& dir,
                       uint64_t max_shard_bytes = 5ull << 30, const std::string& side_files_from = "");

// save_policy into a fresh sibling temporary directory, then renamed to `dir` (which must not exist).
void save_policy_atomic(const Policy& p, const std::string& dir, uint64_t max_shard_bytes = 5ull << 30);

// A fresh, randomly initialised policy: model_preset(preset) sized to the tokenizer, or the shape a config.json file
// names (preset ends in .json; its vocab_size at least the tokenizer's), with the tokenizer ("char" for the character
// tokenizer, or a tokenizer directory or file; a directory also gives EOS ids, chat template and
// generation_config.json), weights drawn from `seed`, on the CPU.
Policy new_policy(const std::string& preset, const std::string& tokenizer, uint64_t seed);

// Files of a Hugging Face checkpoint besides config.json and the weights: tokenizers, chat template, generation.
extern const std::vector<std::string> kSideFiles;

}  // namespace grpo::policy
