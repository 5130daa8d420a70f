// What every run sets up before its loop; see run_setup.h.
#include "rl/run_setup.h"

#include <filesystem>
#include <thread>

#include <ATen/Context.h>

#include "kernels/check.h"
#include "policy/device.h"
#include "policy/weights.h"
#include "rl/checkpoint.h"

namespace grpo::rl {

namespace fs = std::filesystem;

// The device, the compute dtype and the data-parallel workers of the learner and the rollout engine (written into
// cfg).
at::Device setup_device(TrainConfig& cfg, const DistEnv& env) {
  const int64_t local_world_size = env.local_world_size;
  at::Device device = at::kCPU;
  try {
    device = at::Device(cfg.run.device);
  } catch (const c10::Error&) {
    GRPO_FAIL("run.device '", cfg.run.device, "' is not a device; use \"cpu\", \"cuda\" or \"cuda:N\"");
  }
  GRPO_CHECK(!device.is_cuda() || at::hasCUDA(), "run.device is '", cfg.run.device,
             "' but this LibTorch has no CUDA device; hint: build against a CUDA LibTorch (CMAKE_PREFIX_PATH) "
             "or set run.device=cpu");
  if (device.is_cuda() && env.distributed()) {
    // One GPU per rank: cuda:LOCAL_RANK.
    GRPO_CHECK(!device.has_index(), "run.device = ", cfg.run.device, " with ", env.world_size, " ranks: each rank "
               "takes its own GPU, cuda:LOCAL_RANK; hint: set run.device = cuda");
    GRPO_CHECK(env.local_rank < static_cast<int64_t>(at::getNumGPUs()), "rank ", env.rank, " would take cuda:",
               env.local_rank, " and this machine has ", at::getNumGPUs(), " GPU(s); hint: at most one rank per GPU");
    device = at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(env.local_rank));
  }
  // Ranks on one machine share its cores: each takes its share unless run.threads says otherwise.
  int64_t threads = cfg.run.threads;
  if (threads == 0 && local_world_size > 1) {
    threads = std::max<int64_t>(1, static_cast<int64_t>(std::thread::hardware_concurrency()) / local_world_size);
  }
  const int64_t workers = setup_cpu_threads(threads, device);
  cfg.learner.n_workers = workers;
  cfg.engine.n_workers = workers;
  // One source of truth: run.dtype decides what the rollout generates with and what the learner computes in.
  const at::ScalarType dtype = policy::parse_compute_dtype(cfg.run.dtype, device);
  cfg.learner.dtype = dtype;
  cfg.engine.dtype = dtype;
  if (device.is_cuda()) policy::allow_tf32(cfg.run.tf32);
  return device;
}

// Creates the phase directory; refuses to mix a fresh run into old checkpoints unless told to. A fresh run writes
// config.toml; a resumed segment keeps it and writes config.resume-<NNN>-step_<N>.toml beside it (NNN counts the
// segments, so resuming twice from one checkpoint keeps both).
void prepare_run_dir(const std::string& dir, const RunConfig& run, const std::string& resolved_toml) {
  fs::create_directories(dir);
  const auto last = latest_checkpoint(dir);
  std::string config_name = "config.toml";
  auto remove_resume_configs = [&] {
    for (const auto& e : fs::directory_iterator(dir)) {
      if (e.path().filename().string().rfind("config.resume-", 0) == 0) fs::remove(e.path());
    }
  };
  if (!run.resume && last) {
    GRPO_CHECK(run.overwrite, dir, " already holds checkpoints; hint: pass run.resume=true to continue, "
               "run.overwrite=true to start over, or choose another run.out_dir");
    for (const char* f : {"checkpoints", "metrics.jsonl", "samples.jsonl", "log.txt"}) fs::remove_all(fs::path(dir) / f);
    remove_resume_configs();
  } else if (!run.resume) {
    for (const char* f : {"metrics.jsonl", "samples.jsonl"}) fs::remove_all(fs::path(dir) / f);
    remove_resume_configs();
  } else if (last && fs::exists(fs::path(dir) / "config.toml")) {
    int n = 1;
    for (const auto& e : fs::directory_iterator(dir)) n += e.path().filename().string().rfind("config.resume-", 0) == 0;
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%03d", n);
    config_name = str("config.resume-", buf, "-", fs::path(*last).filename().string(), ".toml");
  }
  std::ofstream out(dir + "/" + config_name);
  out << resolved_toml;
  GRPO_CHECK(out.good(), "cannot write ", dir, "/", config_name, "; hint: check permissions and free space");
}

// A fresh model of model.preset with model.tokenizer ("char" or a tokenizer path).
policy::Policy fresh_policy(const TrainConfig& cfg, const at::Device& device) {
  policy::Policy p = policy::new_policy(cfg.model.preset, cfg.model.tokenizer, static_cast<uint64_t>(cfg.run.seed));
  p.model->to(device);
  return p;
}

// The directory model.path names: a checkpoint directory, or "sft" = the newest checkpoint of this run's SFT phase.
std::string resolve_model_path(const TrainConfig& cfg, const char* command) {
  const std::string& path = cfg.model.path;
  GRPO_CHECK(!path.empty(), "grpo ", command, ": model.path is empty; hint: set it to a Hugging Face checkpoint "
             "directory, or to \"sft\" for this run's newest SFT checkpoint");
  if (path == "sft") {
    auto sft = latest_checkpoint(phase_dir(cfg, "sft"));
    GRPO_CHECK(sft.has_value(), "no SFT checkpoint under ", phase_dir(cfg, "sft"), "; hint: run `grpo sft` with this "
               "recipe first, or set model.path to a checkpoint");
    return *sft;
  }
  return path;
}

// The scoring pool, with the external reward program registered when the recipe has one. The program object lives as
// long as the pool's checker.
std::unique_ptr<rewards::ScorePool> make_pool(const TrainConfig& cfg) {
  rewards::PoolConfig pc;
  pc.n_threads = static_cast<int>(cfg.run.pool_threads);
  auto pool = std::make_unique<rewards::ScorePool>(pc);
  if (cfg.reward.weights.count(rewards::kExternalComponent)) {
    auto ext = std::make_shared<rewards::ExternalReward>(cfg.external);
    pool->add_checker(rewards::kExternalComponent,
                      [ext](std::string_view completion, const rewards::Meta& meta) { return ext->score(completion, meta); });
  }
  return pool;
}

// The run's data for this policy: its tokenizer and chat template.
data::TaskData load_data(const TrainConfig& cfg, const policy::Policy& pol, bool with_train) {
  return data::TaskData(cfg.data, *pol.tokenizer, data::resolve_chat_template(cfg.data.chat_template,
                                                                              pol.chat_template_text),
                        with_train);
}

// The rollout engine's settings for this policy and data: its EOS ids, and a KV cache long enough for the longest
// prompt plus the token budget (rollout.max_seq_len = 0), so no completion is cut short by the cache.
rollout::EngineConfig engine_config(const TrainConfig& cfg, const policy::Policy& pol, const data::TaskData& data,
                                    int64_t max_new_tokens, const std::function<void(const std::string&)>& warn) {
  rollout::EngineConfig e = cfg.engine;
  e.eos_ids = pol.eos_ids;
  e.record_routing = cfg.grpo.routing_replay && pol.config.n_expert > 0;  // what the learner replays
  const int64_t need = data.longest_prompt() + max_new_tokens + 1;
  if (e.max_seq_len <= 0) {
    e.max_seq_len = need;
  } else if (e.max_seq_len < need) {
    warn(str("warning: rollout.max_seq_len = ", e.max_seq_len, " is shorter than the longest prompt (",
               data.longest_prompt(), " tokens) plus rollout.max_new_tokens (", max_new_tokens,
               "): such completions end early with finish_reason length; hint: set rollout.max_seq_len = 0 (auto)"));
  }
  return e;
}

// rl.micro_batch_tokens must hold the longest training sequence (prompt + completion budget) in one forward pass.
void check_micro_batch(const TrainConfig& cfg, const data::TaskData& data, int64_t completion_tokens) {
  const int64_t longest = data.longest_train_prompt() + completion_tokens;
  GRPO_CHECK(cfg.learner.micro_batch_tokens >= longest, "rl.micro_batch_tokens = ", cfg.learner.micro_batch_tokens,
             " is shorter than one sequence (longest prompt ", data.longest_train_prompt(), " + ", completion_tokens,
             " completion tokens = ", longest, "); hint: raise rl.micro_batch_tokens or lower data.max_prompt_tokens");
}

Start resolve_start(const std::string& dir, const RunConfig& run, const at::Device& device,
                    const std::function<void(Start&)>& fallback) {
  Start s;
  if (run.resume) {
    s.checkpoint = latest_checkpoint(dir);
    if (!s.checkpoint) std::fprintf(stderr, "run.resume: no checkpoint under %s yet; starting from the beginning\n", dir.c_str());
  }
  if (s.checkpoint) {
    s.policy = policy::load_policy(*s.checkpoint, device);
    TrainerState st = read_trainer_state(*s.checkpoint);
    s.step = st.step;
    s.init = st.extra.value("init", std::string());
    s.data_cursor = st.extra.value("data_cursor", int64_t{-1});
  } else {
    fallback(s);
  }
  return s;
}

std::unique_ptr<Dist> join_ranks(const DistEnv& env, const TrainConfig& cfg, const at::Device& device, int64_t batch,
                                 const char* batch_key, int64_t data_ranks) {
  if (!env.distributed()) return nullptr;
  GRPO_CHECK(batch % data_ranks == 0, batch_key, " = ", batch, " does not split over ", data_ranks, " training ranks; "
             "hint: make it a multiple of them");
  // On GPUs the gradients and weights go through NCCL, the rest (counts, metrics, messages) through Gloo and the store.
  return std::make_unique<Dist>(env, std::chrono::milliseconds(static_cast<int64_t>(cfg.run.dist_timeout * 1000)),
                                device);
}

}  // namespace grpo::rl
