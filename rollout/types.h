// The plain records that cross folder lines around generation (DESIGN.md "Data that crosses folder lines"):
// a Prompt going in, a Completion coming out. No tensors, so rl/ and rewards/ can use them freely.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace grpo::rollout {

struct Prompt {
  int64_t id = 0;                           // stable across runs: seeds the sampling stream
  std::string text;
  std::vector<int64_t> token_ids;
  std::map<std::string, std::string> meta;  // what the verifier needs (rewards::Meta)
};

enum class FinishReason { stop, length, abort };
const char* finish_reason_name(FinishReason r);

struct Completion {
  int64_t prompt_id = 0;
  int64_t sample_index = 0;
  std::vector<int64_t> token_ids;  // generated tokens, including the stop token when one ended it
  std::vector<float> logprobs;     // rollout policy log-prob of each generated token
  double logprob_temperature = 1.0;  // the temperature those log-probs were taken at: the learner scores at it
  std::string text;                // decoded token_ids, without a final EOS
  FinishReason finish_reason = FinishReason::length;
  int64_t policy_version = 0;
  // MoE routing record (EngineConfig::record_routing): for each generated token, the experts chosen in every MoE
  // layer for the input that produced it, routing[t][layer * K + k]; empty when not recorded or not an MoE model.
  std::vector<std::vector<int32_t>> routing;
};

}  // namespace grpo::rollout
