// Per-token log-probabilities (and entropies) of given targets under the LM head, computed in row chunks so a
// long batch never holds full-vocabulary logits for every token at once. Shared by the learner and the
// rollout so both score a token with the same arithmetic.
#pragma once

#include <ATen/ATen.h>

namespace grpo::policy {

struct TokenStats {
  at::Tensor logprobs;  // [M] float32, differentiable w.r.t. hidden and weight
  at::Tensor entropy;   // [M] float32, detached; undefined unless asked for
};

// hidden: [M, C] (the rows that predict `targets`), weight: [V, C], targets: [M] int64.
// log softmax(hidden W^T / temperature)[target].
// NOTE: chunks bound the forward's peak memory; autograd still keeps each chunk's logits for backward.
TokenStats token_logprobs(const at::Tensor& hidden, const at::Tensor& weight, const at::Tensor& targets,
                          double temperature, bool with_entropy, int64_t chunk_rows = 8192);

// logits: [S, V] float32 -> log softmax(logits / temperature): [S, V]. The rollout's scoring of its samples.
at::Tensor scaled_log_softmax(const at::Tensor& logits, double temperature);

}  // namespace grpo::policy
