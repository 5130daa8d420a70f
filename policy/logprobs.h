// Per-token log-probabilities and entropies of given targets under the LM head, without ever holding
// full-vocabulary logits for all tokens: the forward walks the rows in chunks and keeps only each row's
// log-sum-exp; the backward recomputes each chunk's logits and turns them into gradients for the hidden states
// and the head at once. Peak memory is two chunks of [rows, V] floats, whatever the batch (V = 151,936 for Qwen).
// Shared by the learner and the rollout so both score a token with the same arithmetic.
#pragma once

#include <ATen/ATen.h>

namespace grpo::policy {

struct TokenStats {
  at::Tensor logprobs;  // [M] float32, differentiable w.r.t. hidden and weight
  at::Tensor entropy;   // [M] float32, differentiable too; undefined unless asked for
};

// hidden: [M, C] (the rows that predict `targets`), weight: [V, C], targets: [M] int64.
// log softmax(hidden W^T / temperature)[target], and the entropy of that distribution. Matmuls run in the autocast
// dtype when called inside an AutocastGuard (float32 otherwise), in the forward and in the recomputing backward.
// chunk_rows = 0 picks rows so one chunk of logits is about 64 MiB.
TokenStats token_logprobs(const at::Tensor& hidden, const at::Tensor& weight, const at::Tensor& targets,
                          double temperature, bool with_entropy, int64_t chunk_rows = 0);

// The same through autograd's own ops on full [M, V] logits: the reference the chunked path is tested and
// benchmarked against (its backward keeps the logits and the log-softmax, 2 x M x V floats).
TokenStats token_logprobs_naive(const at::Tensor& hidden, const at::Tensor& weight, const at::Tensor& targets,
                                double temperature, bool with_entropy);

// logits: [S, V] float32 -> log softmax(logits / temperature): [S, V]. The rollout's scoring of its samples.
at::Tensor scaled_log_softmax(const at::Tensor& logits, double temperature);

}  // namespace grpo::policy
