// Held-out evaluation: greedy accuracy (pass@1) and optionally pass@k by sampling, scored by the same
// verifiers as training. Reads the policy through the rollout engine; changes nothing.
#pragma once

#include <string>
#include <vector>

#include "rewards/pool.h"
#include "rollout/engine.h"

namespace grpo::rl {

struct EvalConfig {
  int64_t every = 50;               // training steps between evaluations (0 = only at the end)
  int64_t pass_k = 0;               // also report pass@k with k samples per prompt at pass_temperature (0 = off)
  double pass_temperature = 1.0;
  std::string model = "latest";     // `grpo eval`: "sft", "grpo", "latest" (grpo if any, else sft) or a path
};

struct EvalResult {
  int64_t n = 0;
  double accuracy = 0;       // greedy, verdict ok
  double format_rate = 0;    // greedy answers that parse
  double mean_length = 0;    // greedy completion tokens
  int64_t k = 0;
  double pass_at_k = 0;      // share of prompts with at least one of k samples correct
  double seconds = 0;
};

EvalResult evaluate(rollout::RolloutEngine& engine, rewards::ScorePool& pool, const std::string& task,
                    const std::vector<rollout::Prompt>& prompts, int64_t max_new_tokens, const EvalConfig& cfg,
                    uint64_t seed);

}  // namespace grpo::rl
