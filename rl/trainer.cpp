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
#include "rl/run_setup.h"
#include "rl/split.h"
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
  GRPO_CHECK(placement == "colocated" || placement == "split", "run.placement must be colocated or split, got \"",
             placement, "\"");
  GRPO_CHECK(rollout_ranks >= 1, "run.rollout_ranks must be >= 1, got ", rollout_ranks);
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

// dist: the learners' group (null: this process learns alone). Split placement: `source` brings the rollout ranks'
// completions and `weights` (rank 0 only) sends them each new version.
int grpo_loop(TrainConfig& cfg, const std::string& dir, RunLog& log, const at::Device& device, Dist* dist,
              RolloutSource* source = nullptr, Dist* weights = nullptr) {
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
    ctx.dist = dist;
    learner.set_dist(dist);
  }
  ctx.source = source;
  std::optional<WeightChannel> channel;
  if (weights != nullptr) channel.emplace(*weights, pol.model);
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
  if (source != nullptr) {
    log(str("grpo: split placement: ", ctx.world_size, " learner rank(s) and ", cfg.run.rollout_ranks,
            " rollout rank(s) (c10d, ", weights != nullptr ? weights->backend(device) : "gloo",
            "); weights broadcast after each update; "
            "completions at most ", cfg.grpo.max_staleness,
            " update(s) old"));
  } else if (dist != nullptr) {
    log(str("grpo: rank 0 of ", dist->world_size(), " data-parallel ranks (c10d, ", dist->backend(device),
            "); each generates and trains on ",
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
  double broadcast_seconds = 0;  // split placement: sending the weights after the previous update
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
    if (channel) r.metrics["time"]["weight_broadcast"] = broadcast_seconds;  // the previous update's weights
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
        if (channel) channel->send_stop();
        return 130;
      }
    }
    if (channel && done < cfg.grpo.steps) broadcast_seconds = channel->send(done);  // the rollout ranks' next weights
  }
  if (channel) channel->send_stop();
  progress.finish();
  log(str("grpo: done, ", cfg.grpo.steps, " steps; checkpoints in ", dir, "/checkpoints"));
  return 0;
}

}  // namespace

int run_sft(const TrainConfig& config, const std::string& resolved_toml) {
  TrainConfig cfg = config;
  const DistEnv env = DistEnv::from_environment();
  const at::Device device = setup_device(cfg, env);
  const std::string dir = phase_dir(cfg, "sft");
  std::unique_ptr<Dist> dist = join_ranks(env, cfg, device, cfg.sft.batch_size, "sft.batch_size", env.world_size);
  if (env.rank == 0) prepare_run_dir(dir, cfg.run, resolved_toml);
  if (dist) dist->barrier("the run directory");
  RunLog log(dir, /*quiet=*/env.rank != 0);
  return logged(log, [&] { return sft_loop(cfg, dir, log, device, dist.get()); });
}

int run_grpo(const TrainConfig& config, const std::string& resolved_toml) {
  TrainConfig cfg = config;
  cfg.grpo.validate();
  // Several ranks when started by torchrun or grpo launch (WORLD_SIZE > 1): over c10d, colocated or split.
  const DistEnv env = DistEnv::from_environment();
  const at::Device device = setup_device(cfg, env);
  const std::string dir = phase_dir(cfg, "grpo");
  const Placement placement = Placement::from(cfg.run, env.world_size);
  GRPO_CHECK(!placement.split || !cfg.grpo.dynamic_sampling, "rl.dynamic_sampling draws a varying number of prompts "
             "a step, which run.placement = split does not do yet; hint: run.placement = colocated");
  GRPO_CHECK(placement.rollouts <= cfg.grpo.prompts_per_step, "run.rollout_ranks = ", placement.rollouts,
             " is more than rl.prompts_per_step = ", cfg.grpo.prompts_per_step, ": some rollout ranks would idle");
  std::unique_ptr<Dist> world =
      join_ranks(env, cfg, device, cfg.grpo.prompts_per_step, "rl.prompts_per_step", placement.learners);
  if (env.rank == 0) prepare_run_dir(dir, cfg.run, resolved_toml);
  if (world) world->barrier("the run directory");  // the others read it (resume) only once rank 0 has prepared it
  RunLog log(dir, /*quiet=*/env.rank != 0);
  if (!placement.split) return logged(log, [&] { return grpo_loop(cfg, dir, log, device, world.get()); });
  std::unique_ptr<Dist> learners = world->subgroup("learners", placement.learner_ranks());
  std::unique_ptr<Dist> weights = world->subgroup("weights", placement.weight_ranks());
  if (!placement.is_learner(env.rank)) {
    return logged(log, [&] { return rollout_rank_loop(cfg, dir, device, *world, *weights, placement); });
  }
  RolloutFeed feed(*world, placement, env.rank, cfg.grpo.prompts_per_step, cfg.grpo.group_size, cfg.grpo.max_staleness);
  Dist* learner_group = placement.learners > 1 ? learners.get() : nullptr;
  return logged(log, [&] { return grpo_loop(cfg, dir, log, device, learner_group, &feed, weights.get()); });
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
