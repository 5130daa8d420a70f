// Packing prompt + completion token lists into a right-padded TrainBatch (tokens, lengths, loss mask over
// the completion, the rollout's log-probs in the same layout). Used by SFT and GRPO alike.
#pragma once

#include <vector>

#include "rl/learner.h"
#include "rollout/types.h"

namespace grpo::rl {

struct SequenceParts {
  const std::vector<int64_t>* prompt = nullptr;
  const std::vector<int64_t>* completion = nullptr;
  const std::vector<float>* logprobs = nullptr;  // rollout log-probs of the completion, or null
  float advantage = 0.0f;
  // MoE routing the rollout recorded (Completion::routing: per generated token, the K experts of every MoE layer
  // for the input that produced it), or null; packed into TrainBatch::routes when every part has it.
  const std::vector<std::vector<int32_t>>* routing = nullptr;
};

// tokens [N, T] (T = longest prompt+completion, pad_id after), lengths [N], loss_mask [N, T-1] marking the
// positions whose next token is a completion token; advantages [N]; old_logprobs [N, T-1] when every part
// has log-probs; routes (per MoE layer [N, T, K], -1 where nothing was recorded) when every part has routing. All on
// `device`.
TrainBatch pack_sequences(const std::vector<SequenceParts>& parts, int64_t pad_id, const at::Device& device);

// A batch of zero rows (T = 2), with log-probs: a data-parallel rank's share when none of its groups carries signal.
TrainBatch empty_batch(const at::Device& device);

}  // namespace grpo::rl
