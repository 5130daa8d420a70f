// One GRPO step, as a paragraph: draw prompts, generate G completions each, score them, compute
// group-relative advantages, update the policy, sync the weights to the rollout. Each stage is timed under
// its own name. No callbacks and no hooks: the trainer calls this in a loop. No task knowledge: prompts come
// from the data stream and rewards from the recipe's reward mixture.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "rewards/mix.h"
#include "rewards/pool.h"
#include "rl/advantage.h"
#include "rl/dist.h"
#include "rl/data/task_data.h"
#include "rl/learner.h"
#include "rollout/engine.h"

namespace grpo::rl {

struct GrpoConfig {
  int64_t steps = 400;              // optimiser steps (one per rollout batch)
  int64_t prompts_per_step = 64;    // B
  int64_t group_size = 8;           // G completions per prompt
  bool drop_zero_variance = true;   // groups whose rewards are all equal carry no signal: left out of the update
  std::string signal = "reward";    // what must differ within a group for it to carry signal: reward, or verifier
                                    // (its verdicts: a group that differs only by shaping terms gets advantage 0)
  AdvantageConfig advantage;
  int64_t samples_every = 10;       // steps between writing a group's completions to samples.jsonl (0 = never)
  bool stream_scoring = true;       // score completions as they finish, while the rest generate (the same scores)
  bool dynamic_sampling = false;    // DAPO: replace groups without signal by drawing more prompts until B groups carry
                                    // signal (or max_draw_rounds is reached); needs drop_zero_variance
  int64_t max_draw_rounds = 4;      // generation rounds per step with dynamic sampling (the first included)
  bool mask_truncated = false;      // completions cut at max_new_tokens take part in their group's advantages but
                                    // carry no loss (DAPO's overlong filtering; the soft penalty is reward.overlong)
  SpikeGuardConfig guard;           // rl.spike_*: the learner's spike guard and the trainer's rollback
  bool routing_replay = false;      // MoE: the learner uses the experts the rollout chose for each token (the engine
                                    // records them); keeps MoE ratios from moving with routing flips
  double router_bias_rate = 0.0;    // DeepSeek-V3 bias update per step against the expert load (0 = off; V3: 0.001)
  int64_t mu = 1;                   // optimisation passes over each rollout batch, all against the rollout's log-probs
  int64_t max_staleness = 1;        // split placement: a step may train on completions generated this many updates
                                    // before it (the rollout of step t + 1 runs while the learners train on step t)
  void validate() const;
};

// One generation round: completions of some prompts (G each, engine order), their scores, and the engine's figures.
struct Round {
  std::vector<rollout::Completion> completions;
  std::vector<rewards::Score> scores;
  rollout::GenerationStats stats;
  double generate_seconds = 0;  // until the last completion was out
  double score_seconds = 0;     // then waiting for the checks still running (all of scoring without stream_scoring)
};

// Where a step's completions come from when this process does not generate them (split placement: the rollout ranks,
// rl/split.h). Null in GrpoContext = the step's own engine.
class RolloutSource {
 public:
  virtual ~RolloutSource() = default;
  // The round of `prompts`, which are the draws [first_draw, first_draw + prompts.size()) of the stream, for `step`.
  virtual Round fetch(int64_t step, int64_t first_draw, const std::vector<rollout::Prompt>& prompts) = 0;
};

// Generates G completions of each prompt and scores them (while the rest generate, when stream_scoring).
Round generate_and_score(rollout::RolloutEngine& engine, rewards::ScorePool& pool,
                         const rewards::RewardMixConfig& reward, const rollout::SamplingConfig& sampling,
                         const std::vector<rollout::Prompt>& prompts, int64_t G, bool stream_scoring);

// Everything a step touches, owned by the trainer.
struct GrpoContext {
  const GrpoConfig& cfg;
  const rollout::SamplingConfig& sampling;
  const rewards::RewardMixConfig& reward;
  data::TaskData::Stream& stream;
  const policy::Tokenizer& tokenizer;
  rollout::RolloutEngine& engine;
  rewards::ScorePool& pool;
  Learner& learner;
  policy::Transformer reference{nullptr};  // frozen initial policy for the KL term, or null
  int64_t micro_batch_tokens = 1024;
  at::Device device = at::kCPU;
  int64_t data_cursor = 0;  // the next training draw; checkpointed (dynamic sampling draws a varying number per step)
  int64_t rank = 0, world_size = 1;  // data parallelism: this rank generates and trains on its slice of each draw
  Dist* dist = nullptr;               // the ranks' group (dynamic sampling agrees on group counts through it)
  RolloutSource* source = nullptr;    // split placement: the completions come from the rollout ranks
};

struct GrpoStepResult {
  nlohmann::json metrics;                // one metrics.jsonl line
  std::vector<nlohmann::json> samples;   // samples.jsonl lines (empty on most steps)
};

GrpoStepResult grpo_step(GrpoContext& ctx, int64_t step);

// The reward mixture over completions of `prompts` (n_samples each, in engine order): one Score per completion.
// Also what evaluation uses, so training and evaluation score alike.
std::vector<rewards::Score> score_completions(rewards::ScorePool& pool, const rewards::RewardMixConfig& reward,
                                              const std::vector<rollout::Prompt>& prompts,
                                              const std::vector<rollout::Completion>& completions,
                                              int64_t n_samples, int64_t max_new_tokens);

}  // namespace grpo::rl
