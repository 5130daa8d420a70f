// What every run sets up before its loop (SFT, GRPO, a rollout rank's): the device and threads, the run directory and
// its log, the starting checkpoint, data, the rollout engine's settings, the scoring pool and the process group.
// Internal to rl/: the loops in trainer.cpp and split.cpp share it; users call trainer.h.
#pragma once

#include <cstdio>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "policy/weights.h"
#include "rl/dist.h"
#include "rl/trainer.h"

namespace grpo::rl {

// Writes each line to stderr and appends it to <dir>/log.txt; a rank other than 0 (quiet) writes nothing but its
// errors, which main prints.
class RunLog {
 public:
  explicit RunLog(const std::string& dir, bool quiet = false) : quiet_(quiet) {
    if (!quiet) out_.open(dir + "/log.txt", std::ios::app);
  }
  void operator()(const std::string& line) {
    if (quiet_) return;
    std::fprintf(stderr, "%s\n", line.c_str());
    file_only(line);
  }
  void file_only(const std::string& line) {
    if (quiet_) return;
    out_ << line << "\n";
    out_.flush();
  }

 private:
  bool quiet_;
  std::ofstream out_;
};

// Runs `body`; an error is written to log.txt too (main prints it on stderr), so a failed run's directory says why.
template <typename Body>
int logged(RunLog& log, Body&& body) {
  try {
    return body();
  } catch (const std::exception& e) {
    log.file_only(std::string("error: ") + e.what());
    throw;
  }
}

// The device, the compute dtype and the data-parallel workers of the learner and the rollout engine (written into
// cfg). Ranks on one machine share its cores; with several ranks, run.device = cuda means one GPU each
// (cuda:LOCAL_RANK).
at::Device setup_device(TrainConfig& cfg, const DistEnv& env = DistEnv());

// Creates the phase directory; refuses to mix a fresh run into old checkpoints unless told to (see trainer.cpp).
void prepare_run_dir(const std::string& dir, const RunConfig& run, const std::string& resolved_toml);

// A fresh model of model.preset with model.tokenizer ("char" or a tokenizer path).
policy::Policy fresh_policy(const TrainConfig& cfg, const at::Device& device);

// The directory model.path names: a checkpoint directory, or "sft" = the newest checkpoint of this run's SFT phase.
std::string resolve_model_path(const TrainConfig& cfg, const char* command);

// The scoring pool, with the external reward program registered when the recipe has one.
std::unique_ptr<rewards::ScorePool> make_pool(const TrainConfig& cfg);

// The run's data for this policy: its tokenizer and chat template.
data::TaskData load_data(const TrainConfig& cfg, const policy::Policy& pol, bool with_train);

// The rollout engine's settings for this policy and data (EOS ids, a KV cache long enough for the longest prompt plus
// max_new_tokens); `warn` gets what the user should know.
rollout::EngineConfig engine_config(const TrainConfig& cfg, const policy::Policy& pol, const data::TaskData& data,
                                    int64_t max_new_tokens, const std::function<void(const std::string&)>& warn);

// rl.micro_batch_tokens must hold the longest training sequence (prompt + completion budget) in one forward pass.
void check_micro_batch(const TrainConfig& cfg, const data::TaskData& data, int64_t completion_tokens);

// The phase's starting point: its own newest checkpoint when resuming, else `fallback()`.
struct Start {
  policy::Policy policy;
  int64_t step = 0;
  std::optional<std::string> checkpoint;
  std::string init;  // where the weights first came from
  int64_t data_cursor = -1;  // the checkpoint's next training draw (-1: not recorded)
};
Start resolve_start(const std::string& dir, const RunConfig& run, const at::Device& device,
                    const std::function<void(Start&)>& fallback);

// Several ranks when started by torchrun or grpo launch (WORLD_SIZE > 1): the process group, else null. `batch` must
// split evenly over the `data_ranks` that train.
std::unique_ptr<Dist> join_ranks(const DistEnv& env, const TrainConfig& cfg, const at::Device& device, int64_t batch,
                                 const char* batch_key, int64_t data_ranks);

}  // namespace grpo::rl
