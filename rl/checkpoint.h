// Checkpoints: <run>/checkpoints/step_<N>/ holds the policy as a complete Hugging Face model directory
// (config.json, model.safetensors, tokenizer files, chat template, generation_config.json), the optimiser state and trainer_state.json (step, seed). Everything
// is written into a temporary directory, synced, then renamed into place in one step, so a crash or Ctrl-C
// never leaves a half-written checkpoint under a real name.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "policy/weights.h"

namespace grpo::rl {

class Learner;

struct TrainerState {
  std::string phase;        // "sft" or "grpo"
  int64_t step = 0;         // optimiser steps completed
  uint64_t seed = 0;
  nlohmann::json extra = nlohmann::json::object();  // e.g. the last evaluation
};

// Returns the checkpoint's directory. `learner` may be null (no optimiser state). Keeps the newest
// `keep_last` step_* directories (0 = keep all).
std::string save_checkpoint(const std::string& run_dir, const policy::Policy& policy, const Learner* learner,
                            const TrainerState& state, int64_t keep_last);

// The complete checkpoint with the highest step (at most max_step) under <run>/checkpoints, if any.
std::optional<std::string> latest_checkpoint(const std::string& run_dir, int64_t max_step = INT64_MAX);
TrainerState read_trainer_state(const std::string& checkpoint_dir);

}  // namespace grpo::rl
