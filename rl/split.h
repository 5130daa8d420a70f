// Split placement: the last run.rollout_ranks ranks only generate, the others only train. A rollout rank posts each
// step's completions and scores to the job's store; after each update the learners' rank 0 broadcasts every weight to
// the rollout ranks in bucketed flat buffers, tagged with the version (updates applied). A rollout rank generates step
// s with weights of version >= s - rl.max_staleness, so at staleness 1 the rollout of step s + 1 runs while the
// learners train on step s. This file: the roles, the weight channel, the message format, the learners' feed and the
// rollout ranks' loop. Not here: the learners' loop (trainer.cpp's, fed through RolloutSource).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "policy/transformer.h"
#include "rl/dist.h"
#include "rl/grpo_step.h"
#include "rl/run_setup.h"

namespace grpo::rl {

// Which ranks do what. Colocated: every rank generates and trains. Split: ranks [0, learners) train, the rest generate.
struct Placement {
  bool split = false;
  int64_t learners = 1, rollouts = 0;
  // From run.placement and run.rollout_ranks for a job of world_size ranks; errors name the setting.
  static Placement from(const RunConfig& run, int64_t world_size);
  bool is_learner(int64_t rank) const { return !split || rank < learners; }
  std::vector<int64_t> learner_ranks() const;
  std::vector<int64_t> weight_ranks() const;  // the learners' rank 0, then every rollout rank
};

// Versioned weights from the learners' rank 0 (rank 0 of `group`) to the rollout ranks (the others): a header
// [version, kind] and then, for weights, every parameter and buffer of the model in flat buckets per dtype and device
// (Gloo on the CPU, NCCL on a GPU).
class WeightChannel {
 public:
  WeightChannel(Dist& group, policy::Transformer model);
  double send(int64_t version);  // rank 0: the model's weights as they are now; returns the seconds it took
  void send_stop();            // rank 0: no more versions (the run ended or was interrupted)
  // The others: the next message, written into the model; its version, or nullopt for the stop.
  std::optional<int64_t> receive();

 private:
  std::vector<std::vector<at::Tensor>> tensors_by_dtype() const;
  Dist& group_;
  policy::Transformer model_;
};

// One rollout rank's share of a step: the draws [first_draw, first_draw + prompt_ids.size()), G completions each.
struct RolloutSlice {
  int64_t step = 0, version = 0, first_draw = 0;
  std::vector<int64_t> prompt_ids;
  Round round;
};
std::string encode_slice(const RolloutSlice& s);  // MessagePack; log-probs exact
RolloutSlice decode_slice(const std::string& bytes);
std::string slice_key(int64_t step, int64_t rollout_index);

// The learners' source of completions: waits for the step's slices in the store and keeps its own prompts' groups.
// Learner 0 reports the rollout ranks' generation figures (the others report none, so sums over learners hold) and
// removes the previous step's slices.
class RolloutFeed final : public RolloutSource {
 public:
  RolloutFeed(Dist& world, const Placement& placement, int64_t learner_rank, int64_t prompts_per_step,
              int64_t group_size, int64_t max_staleness);
  Round fetch(int64_t step, int64_t first_draw, const std::vector<rollout::Prompt>& prompts) override;

 private:
  Dist& world_;
  Placement placement_;
  int64_t learner_rank_, B_, G_, max_staleness_;
  int64_t last_step_ = -1;
};

// The loop of a rollout rank: generate and score its slice of every step's prompts with weights no more than
// rl.max_staleness versions old, post it, take each new version as the learners send it; returns when rank 0 sends
// the stop (0, or 130 after a Ctrl-C).
int rollout_rank_loop(TrainConfig& cfg, const std::string& dir, const at::Device& device, Dist& world,
                      Dist& weights, const Placement& placement);

}  // namespace grpo::rl
