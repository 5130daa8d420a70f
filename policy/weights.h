// A policy on disk: a Hugging Face checkpoint directory (config.json, model.safetensors or shards with an
// index, tokenizer.json) read into a Transformer + Tokenizer, and written back in the same layout and names.
// Writes go into the directory given; making a checkpoint atomic (temp dir + rename) is the caller's job.
#pragma once

#include <memory>
#include <string>

#include "policy/tokenizer/tokenizer.h"
#include "policy/transformer.h"

namespace grpo::policy {

struct Policy {
  ModelConfig config;
  Transformer model{nullptr};
  std::shared_ptr<Tokenizer> tokenizer;
};

// Every parameter must be present with its shape (F32, BF16 or F16 on disk; converted to float32); a missing or
// unexpected tensor stops with its name.
Policy load_policy(const std::string& dir, const at::Device& device);
void load_weights(Transformer& model, const std::string& dir);
// Writes config.json, model.safetensors and the tokenizer files into `dir` (which must exist).
void save_policy(const Transformer& model, const Tokenizer& tokenizer, const std::string& dir);

}  // namespace grpo::policy
