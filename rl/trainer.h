// The runs: SFT warm start, the GRPO loop and held-out evaluation, each over a run directory
// (<out_dir>/sft, <out_dir>/grpo) with config.toml, metrics.jsonl, samples.jsonl, log.txt and checkpoints.
// Ctrl-C (SIGINT/SIGTERM) finishes the step in flight, writes a checkpoint and returns 130; resume=true
// continues from the newest checkpoint. Parsing the recipe is recipes/' job: these take resolved configs.
#pragma once

#include <string>

#include "rl/countdown_task.h"
#include "rl/evaluate.h"
#include "rl/grpo_step.h"
#include "rl/learner.h"
#include "rollout/engine.h"

namespace grpo::rl {

struct RunConfig {
  std::string out_dir = "runs/countdown-tiny";  // sft/ and grpo/ go under it
  int64_t seed = 1;                             // model init, data order, sampling streams (>= 0)
  std::string device = "cpu";                   // "cpu" or "cuda" / "cuda:N" (needs a CUDA LibTorch)
  int64_t threads = 0;                          // CPU threads (data-parallel workers with OpenBLAS); 0 = all cores
  bool resume = false;                          // continue from the newest checkpoint of the phase
  bool overwrite = false;                       // start over in a phase directory that already has checkpoints
  int64_t save_every = 100;                     // steps between checkpoints (and one at the end)
  int64_t keep_checkpoints = 2;                 // newest step_* directories kept (0 = all)
  int64_t pool_threads = 2;                     // reward scoring threads
};

struct ModelSource {
  std::string preset = "tiny-moe";  // fresh model for `grpo sft` when no path is given
  std::string path;                 // checkpoint to start from; `grpo train` defaults to the newest SFT one
};

struct SftConfig {
  int64_t steps = 400;
  int64_t batch_size = 128;
  int64_t eval_every = 100;  // 0 = only at the end
  OptimConfig optim;         // lr 1e-3 with 20 warm-up steps in the tiny recipe
};

struct TrainConfig {
  RunConfig run;
  ModelSource model;
  CountdownTaskConfig task;
  SftConfig sft;
  GrpoConfig grpo;
  LearnerConfig learner;  // GRPO's optimiser, loss and micro-batching
  rollout::SamplingConfig sampling;
  rollout::EngineConfig engine;
  EvalConfig eval;
};

// Each returns the process exit status: 0 when done, 130 when interrupted (after checkpointing).
// `resolved_toml` is written to the run directory as config.toml.
int run_sft(const TrainConfig& cfg, const std::string& resolved_toml);
int run_grpo(const TrainConfig& cfg, const std::string& resolved_toml);
// Resolves cfg.eval.model to a checkpoint directory (see EvalConfig::model) and evaluates it on
// task.eval_size held-out problems. `checkpoint` receives the directory used.
EvalResult run_eval(const TrainConfig& cfg, std::string* checkpoint);

}  // namespace grpo::rl
