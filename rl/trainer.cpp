// SFT, GRPO and evaluation runs over a run directory; see trainer.h.
#include "rl/trainer.h"

#include <dlfcn.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <thread>

#include <ATen/Parallel.h>
#include <ATen/Context.h>

#include "kernels/check.h"
#include "policy/tokenizer/char_tokenizer.h"
#include "policy/weights.h"
#include "rl/batch.h"
#include "rl/checkpoint.h"
#include "rl/interrupt.h"
#include "rl/metrics.h"

namespace grpo::rl {

namespace fs = std::filesystem;

namespace {

constexpr uint64_t kSftSalt = 0x5f7;
constexpr uint64_t kGrpoSalt = 0x6e70;
constexpr const char* kTask = "countdown";

// Writes each line to stderr and appends it to <dir>/log.txt.
class RunLog {
 public:
  explicit RunLog(const std::string& dir) : out_(dir + "/log.txt", std::ios::app) {}
  void operator()(const std::string& line) {
    std::fprintf(stderr, "%s\n", line.c_str());
    out_ << line << "\n";
    out_.flush();
  }

 private:
  std::ofstream out_;
};

// NOTE: Debian's LibTorch runs element-wise ops on an OpenMP pool and matmuls on OpenBLAS's own pthreads;
// sized both to the cores they fight (measured on 2 cores: SFT 4.3k tok/s). The model's ops are small, so
// the cores are better spent as data-parallel workers, each with single-threaded ATen and BLAS (learner:
// 13.1k tok/s with one worker and 2 BLAS threads, 18.7k with 2 workers). Without OpenBLAS (a PyTorch build
// with MKL, or CUDA) one worker uses ATen's pool. Returns the number of workers.
int64_t setup_cpu_threads(int64_t threads, const at::Device& device) {
  const int n = static_cast<int>(threads > 0 ? threads : std::max(1u, std::thread::hardware_concurrency()));
  using SetThreads = void (*)(int);
  auto openblas_set = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
  if (openblas_set != nullptr && device.is_cpu()) {
    openblas_set(1);
    at::set_num_threads(1);
    return n;
  }
  at::set_num_threads(n);
  return 1;
}

// The device, and the data-parallel workers of the learner and the rollout engine (written into cfg).
at::Device setup_device(TrainConfig& cfg) {
  at::Device device = at::kCPU;
  try {
    device = at::Device(cfg.run.device);
  } catch (const c10::Error&) {
    GRPO_FAIL("run.device '", cfg.run.device, "' is not a device; use \"cpu\", \"cuda\" or \"cuda:N\"");
  }
  GRPO_CHECK(!device.is_cuda() || at::hasCUDA(), "run.device is '", cfg.run.device,
             "' but this LibTorch has no CUDA device; hint: build against a CUDA LibTorch (CMAKE_PREFIX_PATH) "
             "or set run.device=cpu");
  const int64_t workers = setup_cpu_threads(cfg.run.threads, device);
  cfg.learner.n_workers = workers;
  cfg.engine.n_workers = workers;
  return device;
}

// Creates the phase directory; refuses to mix a fresh run into old checkpoints unless told to.
void prepare_run_dir(const std::string& dir, const RunConfig& run, const std::string& resolved_toml) {
  fs::create_directories(dir);
  const bool has_checkpoints = latest_checkpoint(dir).has_value();
  if (!run.resume && has_checkpoints) {
    GRPO_CHECK(run.overwrite, dir, " already holds checkpoints; hint: pass run.resume=true to continue, "
               "run.overwrite=true to start over, or choose another run.out_dir");
    for (const char* f : {"checkpoints", "metrics.jsonl", "samples.jsonl", "log.txt"}) fs::remove_all(fs::path(dir) / f);
  } else if (!run.resume) {
    for (const char* f : {"metrics.jsonl", "samples.jsonl"}) fs::remove_all(fs::path(dir) / f);
  }
  std::ofstream out(dir + "/config.toml");
  out << resolved_toml;
  GRPO_CHECK(out.good(), "cannot write ", dir, "/config.toml; hint: check permissions and free space");
}

policy::Policy fresh_policy(const TrainConfig& cfg, const at::Device& device) {
  policy::Policy p;
  p.tokenizer = std::make_shared<policy::CharTokenizer>();
  p.config = policy::model_preset(cfg.model.preset, p.tokenizer->vocab_size());
  p.config.eos_token_id = p.tokenizer->eos_id();
  p.config.pad_token_id = p.tokenizer->pad_id();
  p.model = policy::Transformer(p.config, static_cast<uint64_t>(cfg.run.seed));
  p.model->to(device);
  return p;
}

rewards::PoolConfig pool_config(const TrainConfig& cfg) {
  rewards::PoolConfig pc;
  pc.n_threads = static_cast<int>(cfg.run.pool_threads);
  return pc;
}

std::string eval_summary(const EvalResult& e) {
  char buf[160];
  std::snprintf(buf, sizeof(buf), "eval: accuracy %.3f, format %.3f, length %.1f (n=%lld, %.1fs)", e.accuracy,
                e.format_rate, e.mean_length, static_cast<long long>(e.n), e.seconds);
  std::string s = buf;
  if (e.k > 0) {
    std::snprintf(buf, sizeof(buf), ", pass@%lld %.3f", static_cast<long long>(e.k), e.pass_at_k);
    s += buf;
  }
  return s;
}

bool due(int64_t step_done, int64_t every, int64_t total) {
  return step_done == total || (every > 0 && step_done % every == 0);
}

// The phase's starting point: its own newest checkpoint when resuming, else `fallback()`.
struct Start {
  policy::Policy policy;
  int64_t step = 0;
  std::optional<std::string> checkpoint;
  std::string init;  // where the weights first came from
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
  } else {
    fallback(s);
  }
  return s;
}

}  // namespace

int run_sft(const TrainConfig& config, const std::string& resolved_toml) {
  TrainConfig cfg = config;
  const at::Device device = setup_device(cfg);
  const uint64_t seed = static_cast<uint64_t>(cfg.run.seed);
  const std::string dir = cfg.run.out_dir + "/sft";
  prepare_run_dir(dir, cfg.run, resolved_toml);
  RunLog log(dir);
  CountdownData data = build_countdown_data(cfg.task);
  Start start = resolve_start(dir, cfg.run, device, [&](Start& s) {
    if (!cfg.model.path.empty()) {
      s.policy = policy::load_policy(cfg.model.path, device);
      s.init = cfg.model.path;
    } else {
      s.policy = fresh_policy(cfg, device);
      s.init = "preset:" + cfg.model.preset;
    }
  });
  policy::Policy& pol = start.policy;
  LearnerConfig lc = cfg.learner;
  lc.optim = cfg.sft.optim;
  Learner learner(pol.model, lc);
  if (start.checkpoint) learner.load_optimizer(*start.checkpoint + "/optimizer.pt");
  rollout::RolloutEngine engine(pol.model, pol.tokenizer, cfg.engine);
  rewards::ScorePool pool(pool_config(cfg));
  auto eval_prompts = countdown_eval_prompts(data, *pol.tokenizer, cfg.task, cfg.task.eval_size);
  CountdownSampler sampler(data.train, seed ^ kSftSalt);
  JsonlWriter metrics(dir + "/metrics.jsonl", start.checkpoint ? start.step : -1);
  log(str("sft: ", data.train.size(), " train / ", data.heldout.size(), " held-out problems; model ",
          pol.config.n_params(), " parameters (", pol.config.n_active_params(), " active); ",
          start.checkpoint ? "resuming " + *start.checkpoint : "from " + start.init, "; seed ", seed));

  install_interrupt_handler();
  ProgressLine progress("sft", cfg.sft.steps, start.step);
  const int64_t B = cfg.sft.batch_size, eos = pol.tokenizer->eos_id();
  for (int64_t step = start.step; step < cfg.sft.steps; ++step) {
    std::vector<rollout::Prompt> prompts;
    std::vector<std::vector<int64_t>> targets;
    for (int64_t i = 0; i < B; ++i) {
      const int64_t draw = step * B + i;
      prompts.push_back(sampler.prompt(draw, *pol.tokenizer, cfg.task));
      std::mt19937_64 rng(seed * 1000003u + static_cast<uint64_t>(draw));
      targets.push_back(pol.tokenizer->encode(countdown_sft_completion(sampler.problem(draw), rng, cfg.task)));
      targets.back().push_back(eos);
    }
    std::vector<SequenceParts> parts;
    for (int64_t i = 0; i < B; ++i) parts.push_back({&prompts[i].token_ids, &targets[i], nullptr, 0.0f});
    learner.set_step(step);
    UpdateStats up = learner.sft_update(pack_sequences(parts, pol.tokenizer->pad_id(), device));
    const int64_t done = step + 1;
    nlohmann::json m = {{"step", done},        {"loss", up.loss},          {"aux_loss", up.aux_loss},
                        {"entropy", up.entropy}, {"grad_norm", up.grad_norm}, {"lr", up.lr},
                        {"learner_tokens_per_s", up.tokens / std::max(1e-9, up.seconds)},
                        {"step_seconds", up.seconds}, {"peak_rss_mib", peak_rss_mib()}};
    std::string eval_text;
    if (due(done, cfg.sft.eval_every, cfg.sft.steps)) {
      EvalResult e = evaluate(engine, pool, kTask, eval_prompts, cfg.sampling.max_new_tokens, EvalConfig{}, seed);
      m["eval_accuracy"] = e.accuracy;
      m["eval_format_rate"] = e.format_rate;
      progress.finish();
      log(str("sft step ", done, ": ", eval_summary(e)));
    }
    metrics.write(m);
    char text[128];
    std::snprintf(text, sizeof(text), "loss %.4f | %s tok/s", up.loss,
                  format_count(up.tokens / std::max(1e-9, up.seconds)).c_str());
    progress.update(done, text);
    if (due(done, cfg.run.save_every, cfg.sft.steps) || interrupt_requested()) {
      TrainerState st{"sft", done, seed, {{"init", start.init}}};
      std::string path = save_checkpoint(dir, pol.model, *pol.tokenizer, &learner, st, cfg.run.keep_checkpoints);
      if (interrupt_requested()) {
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

int run_grpo(const TrainConfig& config, const std::string& resolved_toml) {
  TrainConfig cfg = config;
  cfg.grpo.validate();
  const at::Device device = setup_device(cfg);
  const uint64_t seed = static_cast<uint64_t>(cfg.run.seed);
  const std::string dir = cfg.run.out_dir + "/grpo";
  prepare_run_dir(dir, cfg.run, resolved_toml);
  RunLog log(dir);
  CountdownData data = build_countdown_data(cfg.task);
  Start start = resolve_start(dir, cfg.run, device, [&](Start& s) {
    std::string init = cfg.model.path;
    if (init.empty()) {
      auto sft = latest_checkpoint(cfg.run.out_dir + "/sft");
      GRPO_CHECK(sft.has_value(), "no SFT checkpoint under ", cfg.run.out_dir, "/sft; hint: run `grpo sft` with this "
                 "recipe first, or set model.path to a checkpoint");
      init = *sft;
    }
    s.policy = policy::load_policy(init, device);
    s.init = init;
  });
  policy::Policy& pol = start.policy;
  LearnerConfig lc = cfg.learner;
  lc.optim.total_steps = cfg.grpo.steps;
  Learner learner(pol.model, lc);
  if (start.checkpoint) learner.load_optimizer(*start.checkpoint + "/optimizer.pt");
  rollout::RolloutEngine engine(pol.model, pol.tokenizer, cfg.engine);
  engine.set_policy_version(start.step);
  rewards::ScorePool pool(pool_config(cfg));
  auto eval_prompts = countdown_eval_prompts(data, *pol.tokenizer, cfg.task, cfg.task.eval_size);
  CountdownSampler sampler(data.train, seed ^ kGrpoSalt);
  rollout::SamplingConfig sampling = cfg.sampling;
  sampling.seed = seed ^ kGrpoSalt;
  GrpoContext ctx{cfg.grpo, sampling, cfg.task, kTask, sampler, *pol.tokenizer, engine, pool, learner};
  ctx.temperature = cfg.learner.temperature;
  ctx.micro_batch_tokens = cfg.learner.micro_batch_tokens;
  ctx.device = device;
  if (cfg.learner.loss.kl_coef > 0) {
    GRPO_CHECK(!start.init.empty() && start.init.rfind("preset:", 0) != 0, "the KL term needs the initial "
               "checkpoint as reference, and this run does not record one");
    ctx.reference = policy::load_policy(start.init, device).model;
    ctx.reference->eval();
    for (auto& p : ctx.reference->parameters()) p.set_requires_grad(false);
  }
  JsonlWriter metrics(dir + "/metrics.jsonl", start.checkpoint ? start.step : -1);
  JsonlWriter samples(dir + "/samples.jsonl", start.checkpoint ? start.step : -1);
  log(str("grpo: ", data.train.size(), " train / ", data.heldout.size(), " held-out problems; B=",
          cfg.grpo.prompts_per_step, " G=", cfg.grpo.group_size, " lr=", cfg.learner.optim.lr, "; ",
          start.checkpoint ? "resuming " + *start.checkpoint : "from " + start.init, "; seed ", seed));

  double last_eval = -1;
  if (!start.checkpoint) {
    EvalResult e = evaluate(engine, pool, kTask, eval_prompts, cfg.sampling.max_new_tokens, EvalConfig{}, seed);
    last_eval = e.accuracy;
    metrics.write({{"step", 0}, {"eval_accuracy", e.accuracy}, {"eval_format_rate", e.format_rate}});
    log(str("grpo step 0: ", eval_summary(e)));
  }
  install_interrupt_handler();
  ProgressLine progress("grpo", cfg.grpo.steps, start.step);
  for (int64_t step = start.step; step < cfg.grpo.steps; ++step) {
    learner.set_step(step);
    GrpoStepResult r = grpo_step(ctx, step);
    const int64_t done = step + 1;
    if (due(done, cfg.eval.every, cfg.grpo.steps)) {
      EvalResult e = evaluate(engine, pool, kTask, eval_prompts, cfg.sampling.max_new_tokens, EvalConfig{}, seed);
      r.metrics["eval_accuracy"] = e.accuracy;
      r.metrics["eval_format_rate"] = e.format_rate;
      last_eval = e.accuracy;
      progress.finish();
      log(str("grpo step ", done, ": ", eval_summary(e)));
    }
    metrics.write(r.metrics);
    for (const auto& s : r.samples) samples.write(s);
    char text[200];
    std::snprintf(text, sizeof(text), "reward %.3f acc %.3f | gen %s tok/s | learn %s tok/s | %.2f s/step%s",
                  r.metrics["reward_mean"].get<double>(), r.metrics["accuracy"].get<double>(),
                  format_count(r.metrics["rollout_tokens_per_s"].get<double>()).c_str(),
                  format_count(r.metrics["learner_tokens_per_s"].get<double>()).c_str(),
                  r.metrics["step_seconds"].get<double>(),
                  last_eval >= 0 ? str(" | eval ", std::to_string(last_eval).substr(0, 5)).c_str() : "");
    progress.update(done, text);
    if (due(done, cfg.run.save_every, cfg.grpo.steps) || interrupt_requested()) {
      TrainerState st{"grpo", done, seed, {{"init", start.init}}};
      std::string path = save_checkpoint(dir, pol.model, *pol.tokenizer, &learner, st, cfg.run.keep_checkpoints);
      if (interrupt_requested()) {
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

EvalResult run_eval(const TrainConfig& config, std::string* checkpoint) {
  TrainConfig cfg = config;
  const at::Device device = setup_device(cfg);
  const uint64_t seed = static_cast<uint64_t>(cfg.run.seed);
  std::string path = cfg.eval.model;
  auto newest = [&](const std::string& phase) { return latest_checkpoint(cfg.run.out_dir + "/" + phase); };
  std::optional<std::string> found;
  if (path == "sft" || path == "grpo") {
    found = newest(path);
    GRPO_CHECK(found.has_value(), "no checkpoint under ", cfg.run.out_dir, "/", path, "; hint: run `grpo ",
               path == "sft" ? "sft" : "train", "` with this recipe first");
  } else if (path == "latest") {
    found = newest("grpo");
    if (!found) found = newest("sft");
    GRPO_CHECK(found.has_value(), "no checkpoint under ", cfg.run.out_dir, "; hint: run `grpo sft` first, or set "
               "eval.model to a checkpoint directory");
  } else {
    GRPO_CHECK(fs::is_directory(path), "eval.model '", path, "' is not a directory; hint: use sft, grpo, latest "
               "or a checkpoint path");
    found = path;
  }
  if (checkpoint != nullptr) *checkpoint = *found;
  policy::Policy pol = policy::load_policy(*found, device);
  CountdownData data = build_countdown_data(cfg.task);
  rollout::RolloutEngine engine(pol.model, pol.tokenizer, cfg.engine);
  rewards::ScorePool pool(pool_config(cfg));
  auto prompts = countdown_eval_prompts(data, *pol.tokenizer, cfg.task, cfg.task.eval_size);
  return evaluate(engine, pool, kTask, prompts, cfg.sampling.max_new_tokens, cfg.eval, seed);
}

}  // namespace grpo::rl
