// Held-out evaluation, scored by the same reward mixture as training (accuracy = the verifier said ok): greedy
// accuracy, and with k samples at a temperature avg@k with its bootstrap standard error, maj@k (the most common
// answer) and pass@k (the unbiased estimator of Chen et al. 2021). Reads the policy through the rollout engine;
// changes nothing. The estimators are pure functions below, tested on hand-made tables.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "rewards/mix.h"
#include "rewards/pool.h"
#include "rollout/engine.h"

namespace grpo::rl {

struct EvalConfig {
  int64_t every = 50;            // training steps between evaluations (0 = only at the end)
  int64_t samples = 0;           // k completions per prompt for avg@k, maj@k, pass@k (0 = greedy only)
  double temperature = 0.6;      // of the k samples (DeepSeek-R1's evaluation protocol: 0.6)
  double top_p = 0.95;           // of the k samples (DeepSeek-R1: 0.95)
  int64_t bootstrap = 1000;      // resamples of the prompts for avg@k's standard error
  std::string model = "latest";  // `grpo eval`: "sft", "grpo", "latest" (grpo if any, else sft), "model" (model.path)
                                 // or a checkpoint path
  std::string output_dir;        // `grpo eval`: one <set>.jsonl of completions with verdicts ("" = <out_dir>/eval)
  void validate() const;
};

struct EvalResult {
  std::string name;           // the evaluation set
  int64_t n = 0;              // prompts
  double accuracy = 0;        // greedy, verdict ok
  double format_rate = 0;     // greedy answers the verifier could read (ok or wrong)
  double mean_length = 0;     // greedy completion tokens
  int64_t k = 0;              // samples per prompt (0: none)
  double avg_at_k = 0;        // mean accuracy over all k samples
  double avg_at_k_se = 0;     // its bootstrap standard error over prompts
  double maj_at_k = 0;        // share of prompts whose most common answer is correct; -1: the verifier reads no answers
  double pass_at_k = 0;       // share of prompts with at least one of k correct (unbiased estimator)
  std::vector<std::pair<int64_t, double>> pass_curve;  // pass@j for j = 1, 2, 4, ..., k
  double seconds = 0;
  nlohmann::json to_json() const;
};

// Unbiased pass@k from n samples of which c are correct: 1 - C(n-c, k) / C(n, k) (Chen et al. 2021, computed as a
// product). REQUIRES: 0 <= c <= n, 1 <= k <= n.
double pass_at_k(int64_t n, int64_t c, int64_t k);
// Standard error of the mean of `values` by the bootstrap (resampled with replacement, `resamples` times).
double bootstrap_se(const std::vector<double>& values, int64_t resamples, uint64_t seed);
// maj@k for one prompt: the most common non-empty answer (ties: the first seen) is correct. No answer at all: false.
bool majority_correct(const std::vector<std::string>& answers, const std::vector<bool>& correct);

// Evaluates `prompts` (one set). `record`, when set, receives one JSON object per completion (greedy: sample -1).
// `progress`, when set, is told the prompts done so far.
EvalResult evaluate(rollout::RolloutEngine& engine, rewards::ScorePool& pool, const rewards::RewardMixConfig& reward,
                    const std::string& name, const std::vector<rollout::Prompt>& prompts, int64_t max_new_tokens,
                    const EvalConfig& cfg, uint64_t seed,
                    const std::function<void(const nlohmann::json&)>& record = nullptr,
                    const std::function<void(int64_t done, int64_t total)>& progress = nullptr);

}  // namespace grpo::rl
