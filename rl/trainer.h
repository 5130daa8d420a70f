// The runs: SFT, the GRPO loop and evaluation, each over a run directory (<out_dir>/sft, <out_dir>/grpo) with
// config.toml, metrics.jsonl, samples.jsonl, log.txt and checkpoints (complete Hugging Face model directories).
// Generic over model (any checkpoint policy/ reads, or a fresh preset), data (rl/data) and reward (a mixture).
// Ctrl-C (SIGINT/SIGTERM) finishes the step in flight, writes a checkpoint and returns 130; resume=true continues
// from the newest checkpoint. Parsing the recipe is recipes/' job: these take resolved configs.
#pragma once

#include <string>
#include <vector>

#include "rewards/external.h"
#include "rewards/mix.h"
#include "rl/data/task_data.h"
#include "rl/evaluate.h"
#include "rl/grpo_step.h"
#include "rl/learner.h"
#include "rollout/engine.h"

namespace grpo::rl {

struct RunConfig {
  std::string out_dir = "runs/default";         // sft/ and grpo/ go under it
  int64_t seed = 1;                             // model init, data order, sampling streams (>= 0)
  std::string device = "cpu";                   // "cpu" or "cuda" / "cuda:N" (needs a CUDA LibTorch)
  int64_t threads = 0;                          // CPU threads (data-parallel workers with OpenBLAS); 0 = all cores
  std::string dtype = "auto";                   // compute dtype: auto (bfloat16 on CUDA, float32 on the CPU), float32,
                                                // bfloat16 (rollout weights, learner autocast; master weights float32)
  bool tf32 = true;                             // TF32 tensor cores for float32 matmuls on CUDA
  bool resume = false;                          // continue from the newest checkpoint of the phase
  bool overwrite = false;                       // start over in a phase directory that already has checkpoints
  int64_t save_every = 100;                     // steps between checkpoints (and one at the end)
  int64_t keep_checkpoints = 2;                 // newest step_* directories kept (0 = all)
  int64_t pool_threads = 2;                     // reward scoring threads
  bool allow_config_change = false;             // resume may continue with a changed recipe
  bool tensorboard = true;                      // TensorBoard event files beside metrics.jsonl
  double dist_timeout = 1800;                   // seconds a rank waits in a collective (rank 0's evaluation included)
  std::string placement = "colocated";          // several ranks: colocated (each generates and trains) or split
  int64_t rollout_ranks = 1;                    // split: the last this-many ranks only generate; the others train
  void validate() const;
};

// CPU threads: with n (0 = every core) data-parallel workers, each running single-threaded ATen and BLAS, on a CPU
// device; on a GPU one worker and ATen's pool. Returns the number of workers.
int64_t setup_cpu_threads(int64_t threads, const at::Device& device);

struct ModelSource {
  std::string path;                 // checkpoint directory, or "sft": the newest checkpoint of this run's SFT phase
  std::string preset = "tiny-moe";  // `grpo sft` without a path: a fresh model of this preset
  std::string tokenizer = "char";   // the fresh model's tokenizer: "char" or a tokenizer path (directory or file)
};

struct SftConfig {
  std::string init = "model";  // "model": start from model.path; "preset": a fresh model.preset with model.tokenizer
  int64_t steps = 400;
  int64_t batch_size = 128;
  int64_t eval_every = 100;  // 0 = only at the end
  OptimConfig optim;         // lr 1e-3 with 20 warm-up steps in the tiny recipe
};

struct TrainConfig {
  RunConfig run;
  ModelSource model;
  data::DataConfig data;
  rewards::RewardMixConfig reward;
  rewards::ExternalRewardConfig external;  // the "external" reward component's program
  SftConfig sft;
  GrpoConfig grpo;
  LearnerConfig learner;  // GRPO's optimiser, loss and micro-batching
  rollout::SamplingConfig sampling;
  rollout::EngineConfig engine;
  EvalConfig eval;
};

// Each returns the process exit status: 0 when done, 130 when interrupted (after checkpointing).
// `resolved_toml` is written to the run directory as config.toml (a resumed segment as config.resume-<step>.toml).
int run_sft(const TrainConfig& cfg, const std::string& resolved_toml);
int run_grpo(const TrainConfig& cfg, const std::string& resolved_toml);

struct EvalRun {
  std::string checkpoint;            // the directory evaluated
  std::vector<EvalResult> results;   // one per evaluation set
  std::string output_dir;            // where the completions went
};
// Resolves cfg.eval.model to a checkpoint directory (see EvalConfig::model) and evaluates it on every evaluation
// set of cfg.data, writing each set's completions with verdicts to <output_dir>/<set>.jsonl.
EvalRun run_eval(const TrainConfig& cfg);

// The directory of a phase ("sft" or "grpo") of a run.
std::string phase_dir(const TrainConfig& cfg, const std::string& phase);
// The config the phase's newest segment ran with: the last config.resume-*.toml written, else config.toml; "" when
// the phase has none.
std::string latest_config(const std::string& dir);
// The seed of a phase's training draws and sampling streams (run.seed mixed with the phase).
uint64_t stream_seed(const TrainConfig& cfg, const std::string& phase);

// The tokenizer and chat template prompts are rendered with, without loading any weights: model.path's (for "sft",
// the newest SFT checkpoint once there is one), else model.tokenizer's. For `grpo data`.
struct PromptTokenizer {
  std::shared_ptr<policy::Tokenizer> tokenizer;
  std::string chat_template_text;
  std::string from;  // where it was read
};
PromptTokenizer prompt_tokenizer(const TrainConfig& cfg);

}  // namespace grpo::rl
