// SFT, GRPO and evaluation runs over a run directory; see trainer.h.
#include "rl/trainer.h"

#include <dlfcn.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <thread>

#include <ATen/Context.h>
#include <ATen/Parallel.h>

#include "kernels/check.h"
#include "policy/device.h"
#include "policy/tokenizer/char_tokenizer.h"
#include "policy/tokenizer/chat_template.h"
#include "policy/tokenizer/tokenizer_files.h"
#include "policy/weights.h"
#include "rl/batch.h"
#include "rl/checkpoint.h"
#include "rl/interrupt.h"
#include "rl/metrics.h"
#include "rl/tensorboard.h"

namespace grpo::rl {

namespace fs = std::filesystem;

void RunConfig::validate() const {
  GRPO_CHECK(seed >= 0, "run.seed must be >= 0, got ", seed);
  GRPO_CHECK(threads >= 0, "run.threads must be >= 0 (0 = every core), got ", threads);
  GRPO_CHECK(save_every >= 0, "run.save_every must be >= 0, got ", save_every);
  GRPO_CHECK(keep_checkpoints >= 0, "run.keep_checkpoints must be >= 0 (0 = all), got ", keep_checkpoints);
  GRPO_CHECK(pool_threads > 0, "run.pool_threads must be > 0, got ", pool_threads);
  policy::parse_compute_dtype(dtype, at::kCPU);  // throws naming run.dtype for a name it does not know
  GRPO_CHECK(!out_dir.empty(), "run.out_dir is empty; hint: e.g. runs/my-run");
}

std::string phase_dir(const TrainConfig& cfg, const std::string& phase) { return cfg.run.out_dir + "/" + phase; }

uint64_t stream_seed(const TrainConfig& cfg, const std::string& phase) {
  GRPO_CHECK(phase == "sft" || phase == "grpo", "stream_seed: unknown phase '", phase, "'");
  constexpr uint64_t kSftSalt = 0x5f7, kGrpoSalt = 0x6e70;
  return static_cast<uint64_t>(cfg.run.seed) ^ (phase == "sft" ? kSftSalt : kGrpoSalt);
}

std::string latest_config(const std::string& dir) {
  std::error_code ec;
  std::string best;
  if (fs::is_directory(dir, ec)) {
    for (const auto& e : fs::directory_iterator(dir)) {
      const std::string name = e.path().filename().string();
      // config.resume-NNN-...: the zero-padded segment number orders them.
      if (name.rfind("config.resume-", 0) == 0 && (best.empty() || name > fs::path(best).filename().string()))
        best = e.path().string();
    }
  }
  if (!best.empty()) return best;
  return fs::exists(fs::path(dir) / "config.toml", ec) ? dir + "/config.toml" : "";
}

namespace {


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

}  // namespace

// NOTE: Debian's LibTorch runs element-wise ops on an OpenMP pool and matmuls on OpenBLAS's own pthreads;
// sized both to the cores they fight (measured on 2 cores: SFT 4.3k tok/s). The model's ops are small, so
// the cores are better spent as data-parallel workers, each with single-threaded ATen and BLAS (learner:
// 13.1k tok/s with one worker and 2 BLAS threads, 18.7k with 2 workers). The same holds for PyPI's LibTorch 2.11
// (MKL): countdown-tiny 1.07 s/step with 2 workers against 1.28 with one worker on ATen's 2-thread pool. On CUDA one
// worker drives the device. Returns the number of workers.
int64_t setup_cpu_threads(int64_t threads, const at::Device& device) {
  const int n = static_cast<int>(threads > 0 ? threads : std::max(1u, std::thread::hardware_concurrency()));
  using SetThreads = void (*)(int);
  auto openblas_set = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
  if (device.is_cpu()) {
    if (openblas_set != nullptr) openblas_set(1);
    at::set_num_threads(1);
    return n;
  }
  at::set_num_threads(n);
  return 1;
}

namespace {

// The device, the compute dtype and the data-parallel workers of the learner and the rollout engine (written into
// cfg).
at::Device setup_device(TrainConfig& cfg, int64_t local_world_size = 1) {
  at::Device device = at::kCPU;
  try {
    device = at::Device(cfg.run.device);
  } catch (const c10::Error&) {
    GRPO_FAIL("run.device '", cfg.run.device, "' is not a device; use \"cpu\", \"cuda\" or \"cuda:N\"");
  }
  GRPO_CHECK(!device.is_cuda() || at::hasCUDA(), "run.device is '", cfg.run.device,
             "' but this LibTorch has no CUDA device; hint: build against a CUDA LibTorch (CMAKE_PREFIX_PATH) "
             "or set run.device=cpu");
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

std::string eval_summary(const EvalResult& e) {
  char buf[200];
  std::snprintf(buf, sizeof(buf), "eval %s: accuracy %.3f, format %.3f, length %.1f (n=%lld, %.1fs)", e.name.c_str(),
                e.accuracy, e.format_rate, e.mean_length, static_cast<long long>(e.n), e.seconds);
  std::string s = buf;
  if (e.k > 0) {
    std::snprintf(buf, sizeof(buf), "; avg@%lld %.3f +- %.3f, pass@%lld %.3f", static_cast<long long>(e.k), e.avg_at_k,
                  e.avg_at_k_se, static_cast<long long>(e.k), e.pass_at_k);
    s += buf;
    if (e.maj_at_k >= 0) {
      std::snprintf(buf, sizeof(buf), ", maj@%lld %.3f", static_cast<long long>(e.k), e.maj_at_k);
      s += buf;
    }
    s += "; pass@k curve";
    for (const auto& [k, v] : e.pass_curve) {
      std::snprintf(buf, sizeof(buf), " %lld:%.3f", static_cast<long long>(k), v);
      s += buf;
    }
  }
  return s;
}

bool due(int64_t step_done, int64_t every, int64_t total) {
  return step_done == total || (every > 0 && step_done % every == 0);
}

// Greedy evaluation on every set during training: eval_accuracy (the first set) and eval.<set>.* in the metrics.
void evaluate_during_training(rollout::RolloutEngine& engine, rewards::ScorePool& pool, const TrainConfig& cfg,
                              const data::TaskData& data, uint64_t seed, const char* phase, int64_t step,
                              nlohmann::json& m, RunLog& log) {
  EvalConfig greedy = cfg.eval;
  greedy.samples = 0;
  nlohmann::json sets = nlohmann::json::object();
  for (const auto& set : data.eval_sets()) {
    EvalResult e = evaluate(engine, pool, cfg.reward, set.name, set.prompts, cfg.sampling.max_new_tokens, greedy, seed);
    if (!m.contains("eval_accuracy")) {
      m["eval_accuracy"] = e.accuracy;
      m["eval_format_rate"] = e.format_rate;
    }
    sets[set.name] = {{"accuracy", e.accuracy}, {"format_rate", e.format_rate}, {"mean_length", e.mean_length}};
    log(str(phase, " step ", step, ": ", eval_summary(e)));
  }
  if (sets.size() > 1) m["eval"] = sets;
}

// The phase's starting point: its own newest checkpoint when resuming, else `fallback()`.
struct Start {
  policy::Policy policy;
  int64_t step = 0;
  std::optional<std::string> checkpoint;
  std::string init;  // where the weights first came from
  int64_t data_cursor = -1;  // the checkpoint's next training draw (-1: not recorded)
};

template <typename Fallback>
Start resolve_start(const std::string& dir, const RunConfig& run, const at::Device& device, Fallback fallback) {
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

int sft_loop(TrainConfig& cfg, const std::string& dir, RunLog& log, const at::Device& device, Dist* dist) {
  const bool main_rank = dist == nullptr || dist->is_main();
  const uint64_t seed = static_cast<uint64_t>(cfg.run.seed);
  Start start = resolve_start(dir, cfg.run, device, [&](Start& s) {
    GRPO_CHECK(cfg.sft.optim.lr > 0, "sft.lr must be > 0");
    if (cfg.sft.init == "preset") {
      s.policy = fresh_policy(cfg, device);
      s.init = "preset:" + cfg.model.preset;
    } else {
      GRPO_CHECK(cfg.model.path != "sft", "grpo sft: model.path = \"sft\" names this phase's own output; hint: set "
                 "model.path to a checkpoint directory, or sft.init = \"preset\" for a fresh model");
      s.init = resolve_model_path(cfg, "sft");
      s.policy = policy::load_policy(s.init, device);
    }
  });
  policy::Policy& pol = start.policy;
  data::TaskData data = load_data(cfg, pol, /*with_train=*/true);
  data.check_responses();
  for (const auto& line : data.report()) log(line);
  // A target ends the assistant turn the way the chat template writes it (ChatML: <|im_end|>\n), or with EOS.
  const std::string turn_end = policy::assistant_turn_end(data.renderer().chat_template());
  LearnerConfig lc = cfg.learner;
  lc.optim = cfg.sft.optim;
  Learner learner(pol.model, lc);
  learner.set_dist(dist);
  if (start.checkpoint) learner.load_optimizer(*start.checkpoint + "/optimizer.pt");
  rollout::RolloutEngine engine(pol.model, pol.tokenizer, engine_config(cfg, pol, data, cfg.sampling.max_new_tokens,
                                                                        [&log](const std::string& w) { log(w); }));
  auto pool = make_pool(cfg);
  data::TaskData::Stream stream(data, stream_seed(cfg, "sft"));
  std::optional<JsonlWriter> metrics;  // rank 0 alone writes the run directory
  std::optional<TensorBoardWriter> tensorboard;
  if (main_rank) {
    metrics.emplace(dir + "/metrics.jsonl", start.checkpoint ? start.step : -1);
    if (cfg.run.tensorboard) tensorboard.emplace(dir);
  }
  log(str("sft: ", data.train_size(), " training prompts; model ", pol.config.n_params(), " parameters (",
          pol.config.n_active_params(), " active); ", start.checkpoint ? "resuming " + *start.checkpoint : "from " + start.init,
          "; seed ", seed));

  install_interrupt_handler();
  ProgressLine progress("sft", cfg.sft.steps, start.step);
  const int64_t B = cfg.sft.batch_size, eos = pol.eos_ids.front();
  // With ranks, each takes its slice of the step's B draws; the learner combines them into the one global step.
  const int64_t W = dist != nullptr ? dist->world_size() : 1, R = dist != nullptr ? dist->rank() : 0;
  for (int64_t step = start.step; step < cfg.sft.steps; ++step) {
    std::vector<rollout::Prompt> prompts;
    std::vector<std::vector<int64_t>> targets;
    for (int64_t i = B * R / W; i < B * (R + 1) / W; ++i) {
      const int64_t draw = step * B + i;
      prompts.push_back(stream.prompt(draw));
      std::mt19937_64 rng(seed * 1000003u + static_cast<uint64_t>(draw));
      targets.push_back(pol.tokenizer->encode(stream.response(draw, rng) + turn_end));
      if (turn_end.empty()) targets.back().push_back(eos);
      const int64_t len = static_cast<int64_t>(prompts.back().token_ids.size() + targets.back().size());
      GRPO_CHECK(len <= cfg.learner.micro_batch_tokens, "sft: draw ", draw, " is ", len, " tokens (prompt ",
                 prompts.back().token_ids.size(), " + response ", targets.back().size(), "), longer than "
                 "rl.micro_batch_tokens = ", cfg.learner.micro_batch_tokens, "; hint: raise rl.micro_batch_tokens");
    }
    std::vector<SequenceParts> parts;
    for (size_t i = 0; i < prompts.size(); ++i) parts.push_back({&prompts[i].token_ids, &targets[i], nullptr, 0.0f});
    learner.set_step(step);
    UpdateStats up = learner.sft_update(pack_sequences(parts, pol.tokenizer->pad_id(), device));
    const int64_t done = step + 1;
    nlohmann::json m = {{"step", done},        {"loss", up.loss},          {"aux_loss", up.aux_loss},
                        {"entropy", up.entropy}, {"grad_norm", up.grad_norm}, {"lr", up.lr},
                        {"learner_tokens_per_s", up.tokens / std::max(1e-9, up.seconds)},
                        {"step_seconds", up.seconds}, {"peak_rss_mib", peak_rss_mib()}};
    bool stop = interrupt_requested();
    if (dist != nullptr) stop = dist->all_reduce_sum(std::vector<double>{stop ? 1.0 : 0.0}, "the interrupt flag")[0] > 0;
    if (!main_rank) {
      if (stop) return 130;
      continue;
    }
    if (due(done, cfg.sft.eval_every, cfg.sft.steps) && !data.eval_sets().empty()) {
      progress.finish();
      engine.sync_weights(done);
      evaluate_during_training(engine, *pool, cfg, data, seed, "sft", done, m, log);
    }
    metrics->write(m);
    if (tensorboard) tensorboard->write(m);
    char text[128];
    std::snprintf(text, sizeof(text), "loss %.4f | %s tok/s", up.loss,
                  format_count(up.tokens / std::max(1e-9, up.seconds)).c_str());
    progress.update(done, text);
    if (due(done, cfg.run.save_every, cfg.sft.steps) || stop) {
      TrainerState st{"sft", done, seed, {{"init", start.init}}};
      std::string path = save_checkpoint(dir, pol, &learner, st, cfg.run.keep_checkpoints);
      if (stop) {
        progress.finish();
        log(str("interrupted after step ", done, "; checkpoint ", path, "; continue with run.resume=true"));
        return 130;
      }
    }
  }
  progress.finish();
  log(str("sft: done, ", cfg.sft.steps, " steps; checkpoints in ", dir, "/checkpoints"));
  return 0;
}

// After a streak of skipped updates: the weights and optimiser state of the newest checkpoint saved before the streak
// began (else the initial weights with a fresh optimiser), into the learner and the rollout. Returns where from.
std::string roll_back(const std::string& dir, const std::string& init, const SpikeGuard& guard, policy::Policy& pol,
                      Learner& learner, rollout::RolloutEngine& engine, const at::Device& device, int64_t done) {
  std::optional<std::string> ck = latest_checkpoint(dir, guard.streak_start());
  const std::string from = ck ? *ck : init;
  policy::Policy good = policy::load_policy(from, device);
  policy::copy_weights(good.model, pol.model);
  if (ck) {
    learner.load_optimizer(*ck + "/optimizer.pt");
  } else {
    learner.reset_optimizer();
  }
  learner.sync_replicas();
  engine.sync_weights(done);
  return from;
}

int grpo_loop(TrainConfig& cfg, const std::string& dir, RunLog& log, const at::Device& device, Dist* dist) {
  const bool main_rank = dist == nullptr || dist->is_main();
  const uint64_t seed = static_cast<uint64_t>(cfg.run.seed);
  Start start = resolve_start(dir, cfg.run, device, [&](Start& s) {
    s.init = resolve_model_path(cfg, "train");
    s.policy = policy::load_policy(s.init, device);
  });
  policy::Policy& pol = start.policy;
  data::TaskData data = load_data(cfg, pol, /*with_train=*/true);
  check_micro_batch(cfg, data, cfg.sampling.max_new_tokens);
  for (const auto& line : data.report()) log(line);
  GRPO_CHECK(!cfg.grpo.routing_replay || pol.config.n_expert > 0, "rl.routing_replay needs an MoE model; ",
             start.init, " has no experts");
  LearnerConfig lc = cfg.learner;
  lc.optim.total_steps = cfg.grpo.steps;
  // NOTE: the learner and the reference model score at the temperature the rollout took its log-probs at, which
  // travels with each completion into the batch (TrainBatch::temperature), so the first ratio of an update is 1.
  Learner learner(pol.model, lc);
  if (start.checkpoint) learner.load_optimizer(*start.checkpoint + "/optimizer.pt");
  rollout::RolloutEngine engine(pol.model, pol.tokenizer, engine_config(cfg, pol, data, cfg.sampling.max_new_tokens,
                                                                        [&log](const std::string& w) { log(w); }));
  engine.sync_weights(start.step);
  auto pool = make_pool(cfg);
  data::TaskData::Stream stream(data, stream_seed(cfg, "grpo"));
  rollout::SamplingConfig sampling = cfg.sampling;
  sampling.seed = stream_seed(cfg, "grpo");
  GrpoContext ctx{cfg.grpo, sampling, cfg.reward, stream, *pol.tokenizer, engine, *pool, learner};
  ctx.micro_batch_tokens = cfg.learner.micro_batch_tokens;
  ctx.device = device;
  ctx.data_cursor = start.data_cursor >= 0 ? start.data_cursor : start.step * cfg.grpo.prompts_per_step;
  if (dist != nullptr) {
    ctx.rank = dist->rank();
    ctx.world_size = dist->world_size();
    learner.set_dist(dist);
  }
  SpikeGuard guard(cfg.grpo.guard);
  if (start.checkpoint) guard.load(read_trainer_state(*start.checkpoint).extra.value("spike_guard", nlohmann::json()));
  learner.set_spike_guard(&guard);
  if (cfg.learner.loss.kl_coef > 0) {
    GRPO_CHECK(!start.init.empty() && start.init.rfind("preset:", 0) != 0, "the KL term needs the initial "
               "checkpoint as reference, and this run does not record one");
    ctx.reference = policy::load_policy(start.init, device).model;
    ctx.reference->eval();
    for (auto& p : ctx.reference->parameters()) p.set_requires_grad(false);
  }
  // Rank 0 alone writes the run directory.
  std::optional<JsonlWriter> metrics, samples;
  std::optional<TensorBoardWriter> tensorboard;
  if (main_rank) {
    metrics.emplace(dir + "/metrics.jsonl", start.checkpoint ? start.step : -1);
    samples.emplace(dir + "/samples.jsonl", start.checkpoint ? start.step : -1);
    if (cfg.run.tensorboard) tensorboard.emplace(dir);
  }
  if (dist != nullptr) {
    log(str("grpo: rank 0 of ", dist->world_size(), " data-parallel ranks (c10d, Gloo); each generates and trains on ",
            cfg.grpo.prompts_per_step / dist->world_size(), " of the ", cfg.grpo.prompts_per_step, " prompts a step"));
  }
  log(str("grpo: ", data.train_size(), " training prompts; B=", cfg.grpo.prompts_per_step, " G=", cfg.grpo.group_size,
          " lr=", cfg.learner.optim.lr, "; reward ", nlohmann::json(cfg.reward.weights).dump(), " (accuracy: ",
          cfg.reward.resolved_verifier(), "); ", start.checkpoint ? "resuming " + *start.checkpoint : "from " + start.init,
          "; seed ", seed));

  double last_eval = -1;
  if (!start.checkpoint && !data.eval_sets().empty() && main_rank) {
    nlohmann::json m = {{"step", 0}};
    evaluate_during_training(engine, *pool, cfg, data, seed, "grpo", 0, m, log);
    last_eval = m["eval_accuracy"].get<double>();
    metrics->write(m);
    if (tensorboard) tensorboard->write(m);
  }
  install_interrupt_handler();
  ProgressLine progress("grpo", cfg.grpo.steps, start.step);
  for (int64_t step = start.step; step < cfg.grpo.steps; ++step) {
    learner.set_step(step);
    GrpoStepResult r = grpo_step(ctx, step);
    const int64_t done = step + 1;
    if (dist != nullptr) {
      std::vector<std::string> all = dist->gather_to_main(r.metrics.dump(), "the step's metrics");
      if (main_rank) r.metrics = merge_rank_metrics(all);
    }
    // Every rank stops after the same step: the interrupt flag is agreed on.
    bool stop = interrupt_requested();
    if (dist != nullptr) stop = dist->all_reduce_sum(std::vector<double>{stop ? 1.0 : 0.0}, "the interrupt flag")[0] > 0;
    if (!main_rank) {
      if (guard.rollback_due()) {
        roll_back(dir, start.init, guard, pol, learner, engine, device, done);
        guard.rolled_back();
      }
      if (stop) return 130;
      continue;
    }
    if (due(done, cfg.eval.every, cfg.grpo.steps) && !data.eval_sets().empty()) {
      progress.finish();
      evaluate_during_training(engine, *pool, cfg, data, seed, "grpo", done, r.metrics, log);
      last_eval = r.metrics["eval_accuracy"].get<double>();
    }
    if (r.metrics.contains("skip_reason")) {
      progress.finish();
      log(str("step ", done, ": update skipped: ", r.metrics["skip_reason"].get<std::string>(), "; prompts ",
              r.metrics["skipped_prompt_ids"].dump()));
    }
    if (guard.rollback_due()) {
      progress.finish();
      r.metrics["rolled_back_to"] = roll_back(dir, start.init, guard, pol, learner, engine, device, done);
      log(str("step ", done, ": ", guard.config().max_skips, " updates skipped in a row; rolled back to ",
              r.metrics["rolled_back_to"].get<std::string>(), ", continuing with the next data"));
      guard.rolled_back();
    }
    metrics->write(r.metrics);
    if (tensorboard) tensorboard->write(r.metrics);
    for (const auto& s : r.samples) samples->write(s);
    char text[200];
    std::snprintf(text, sizeof(text), "reward %.3f acc %.3f | gen %s tok/s | learn %s tok/s | %.2f s/step%s",
                  r.metrics["reward_mean"].get<double>(), r.metrics["accuracy"].get<double>(),
                  format_count(r.metrics["rollout_tokens_per_s"].get<double>()).c_str(),
                  format_count(r.metrics["learner_tokens_per_s"].get<double>()).c_str(),
                  r.metrics["step_seconds"].get<double>(),
                  last_eval >= 0 ? str(" | eval ", std::to_string(last_eval).substr(0, 5)).c_str() : "");
    progress.update(done, text);
    if (due(done, cfg.run.save_every, cfg.grpo.steps) || stop) {
      TrainerState st{"grpo", done, seed,
                      {{"init", start.init}, {"data_cursor", ctx.data_cursor}, {"spike_guard", guard.to_json()}}};
      std::string path = save_checkpoint(dir, pol, &learner, st, cfg.run.keep_checkpoints);
      if (stop) {
        progress.finish();
        log(str("interrupted after step ", done, "; checkpoint ", path, "; continue with run.resume=true"));
        return 130;
      }
    }
  }
  progress.finish();
  log(str("grpo: done, ", cfg.grpo.steps, " steps; checkpoints in ", dir, "/checkpoints"));
  return 0;
}

// Several ranks when started by torchrun or grpo launch (WORLD_SIZE > 1): the process group, else null.
std::unique_ptr<Dist> join_ranks(const DistEnv& env, const TrainConfig& cfg, const at::Device& device, int64_t batch,
                                 const char* batch_key) {
  if (!env.distributed()) return nullptr;
  GRPO_CHECK(device.is_cpu(), "several ranks on ", device, ": only the CPU (Gloo) is wired so far; hint: one process "
             "per GPU comes with NCCL");
  GRPO_CHECK(batch % env.world_size == 0, batch_key, " = ", batch, " does not split over ", env.world_size,
             " ranks; hint: make it a multiple of WORLD_SIZE");
  return std::make_unique<Dist>(env, std::chrono::milliseconds(static_cast<int64_t>(cfg.run.dist_timeout * 1000)));
}

}  // namespace

int run_sft(const TrainConfig& config, const std::string& resolved_toml) {
  TrainConfig cfg = config;
  const DistEnv env = DistEnv::from_environment();
  const at::Device device = setup_device(cfg, env.local_world_size);
  const std::string dir = phase_dir(cfg, "sft");
  std::unique_ptr<Dist> dist = join_ranks(env, cfg, device, cfg.sft.batch_size, "sft.batch_size");
  if (env.rank == 0) prepare_run_dir(dir, cfg.run, resolved_toml);
  if (dist) dist->barrier("the run directory");
  RunLog log(dir, /*quiet=*/env.rank != 0);
  return logged(log, [&] { return sft_loop(cfg, dir, log, device, dist.get()); });
}

int run_grpo(const TrainConfig& config, const std::string& resolved_toml) {
  TrainConfig cfg = config;
  cfg.grpo.validate();
  // Several ranks when started by torchrun or grpo launch (WORLD_SIZE > 1): data parallel over c10d.
  const DistEnv env = DistEnv::from_environment();
  const at::Device device = setup_device(cfg, env.local_world_size);
  const std::string dir = phase_dir(cfg, "grpo");
  GRPO_CHECK(!env.distributed() || !cfg.grpo.dynamic_sampling, "rl.dynamic_sampling is not supported with several "
             "ranks yet");
  std::unique_ptr<Dist> dist = join_ranks(env, cfg, device, cfg.grpo.prompts_per_step, "rl.prompts_per_step");
  if (env.rank == 0) prepare_run_dir(dir, cfg.run, resolved_toml);
  if (dist) dist->barrier("the run directory");  // the others read it (resume) only once rank 0 has prepared it
  RunLog log(dir, /*quiet=*/env.rank != 0);
  return logged(log, [&] { return grpo_loop(cfg, dir, log, device, dist.get()); });
}

PromptTokenizer prompt_tokenizer(const TrainConfig& cfg) {
  std::string dir = cfg.model.path;
  if (dir == "sft") {
    auto sft = latest_checkpoint(phase_dir(cfg, "sft"));
    dir = sft ? *sft : "";
  }
  PromptTokenizer t;
  if (!dir.empty()) {
    t.tokenizer = policy::load_tokenizer(dir);
    t.chat_template_text = policy::read_chat_template_text(dir);
    t.from = dir;
  } else if (cfg.model.tokenizer == "char") {
    t.tokenizer = std::make_shared<policy::CharTokenizer>();
    t.from = "model.tokenizer = char";
  } else {
    t.tokenizer = policy::load_tokenizer(cfg.model.tokenizer);
    if (fs::is_directory(cfg.model.tokenizer)) t.chat_template_text = policy::read_chat_template_text(cfg.model.tokenizer);
    t.from = cfg.model.tokenizer;
  }
  return t;
}

EvalRun run_eval(const TrainConfig& config) {
  GRPO_CHECK(!DistEnv::from_environment().distributed(), "grpo eval runs in one process; hint: run it without "
             "torchrun or grpo launch");
  TrainConfig cfg = config;
  const at::Device device = setup_device(cfg);
  const uint64_t seed = static_cast<uint64_t>(cfg.run.seed);
  const std::string& path = cfg.eval.model;
  auto newest = [&](const std::string& phase) { return latest_checkpoint(phase_dir(cfg, phase)); };
  std::optional<std::string> found;
  if (path == "sft" || path == "grpo") {
    found = newest(path);
    GRPO_CHECK(found.has_value(), "no checkpoint under ", phase_dir(cfg, path), "; hint: run `grpo ",
               path == "sft" ? "sft" : "train", "` with this recipe first");
  } else if (path == "latest") {
    found = newest("grpo");
    if (!found) found = newest("sft");
    GRPO_CHECK(found.has_value(), "no checkpoint under ", cfg.run.out_dir, "; hint: run `grpo sft` or `grpo train` "
               "first, or set eval.model to a checkpoint directory");
  } else if (path == "model") {
    found = resolve_model_path(cfg, "eval");
  } else {
    GRPO_CHECK(fs::is_directory(path), "eval.model '", path, "' is not a directory; hint: use sft, grpo, latest, "
               "model (model.path) or a checkpoint path");
    found = path;
  }
  EvalRun run;
  run.checkpoint = *found;
  policy::Policy pol = policy::load_policy(*found, device);
  policy::to_compute_dtype(pol.model, cfg.engine.dtype);  // nothing trains: the engine generates with these weights, in run.dtype
  data::TaskData data = load_data(cfg, pol, /*with_train=*/false);
  GRPO_CHECK(!data.eval_sets().empty(), "grpo eval: no evaluation sets; hint: set data.eval to one or more files");
  for (const auto& line : data.report()) std::fprintf(stderr, "%s\n", line.c_str());
  rollout::RolloutEngine engine(pol.model, pol.tokenizer,
                                engine_config(cfg, pol, data, cfg.sampling.max_new_tokens,
                                              [](const std::string& w) { std::fprintf(stderr, "%s\n", w.c_str()); }));
  auto pool = make_pool(cfg);
  run.output_dir = cfg.eval.output_dir.empty() ? cfg.run.out_dir + "/eval" : cfg.eval.output_dir;
  fs::create_directories(run.output_dir);
  for (const auto& set : data.eval_sets()) {
    const std::string file = run.output_dir + "/" + set.name + ".jsonl";
    JsonlWriter out(file);
    ProgressLine progress("eval " + set.name, static_cast<int64_t>(set.prompts.size()) * (1 + cfg.eval.samples));
    EvalResult r = evaluate(
        engine, *pool, cfg.reward, set.name, set.prompts, cfg.sampling.max_new_tokens, cfg.eval, seed,
        [&](const nlohmann::json& rec) { out.write(rec); },
        [&](int64_t done, int64_t) { progress.update(done, "greedy, then sampled"); });
    progress.finish();
    std::fprintf(stderr, "%s; completions in %s\n", eval_summary(r).c_str(), file.c_str());
    run.results.push_back(std::move(r));
  }
  // Every figure of every set (the pass@k curve included) beside the completions.
  nlohmann::json summary = {{"checkpoint", run.checkpoint}, {"sets", nlohmann::json::array()}};
  for (const auto& r : run.results) summary["sets"].push_back(r.to_json());
  policy::write_text_file(run.output_dir + "/summary.json", summary.dump(2) + "\n");
  return run;
}

}  // namespace grpo::rl
