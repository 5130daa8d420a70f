// Recipe keys: the table from dotted names to config fields; see recipe.h.
#include "recipes/recipe.h"

#include "kernels/check.h"

namespace grpo::recipes {

Recipe::Recipe() {
  // Defaults of the tiny Countdown recipe that differ from the components' own.
  cfg.sft.optim.lr = 1e-3;
  cfg.sft.optim.warmup_steps = 20;
  cfg.learner.optim.lr = 2e-4;
  cfg.learner.optim.warmup_steps = 20;
  cfg.sampling.max_new_tokens = 32;
  cfg.engine.max_seq_len = 64;
  bind();
}

void Recipe::bind() {
  ConfigSchema& s = schema_;
  rl::RunConfig& run = cfg.run;
  s.add("run.out_dir", &run.out_dir, "run directory; sft/ and grpo/ go under it");
  s.add("run.seed", &run.seed, "seed of model init, data order and sampling streams");
  s.add("run.device", &run.device, "\"cpu\", \"cuda\" or \"cuda:N\" (needs a CUDA LibTorch)");
  s.add("run.threads", &run.threads, "intra-op CPU threads; 0 = every core");
  s.add("run.resume", &run.resume, "continue from the newest checkpoint of the phase");
  s.add("run.overwrite", &run.overwrite, "start over in a phase directory that already has checkpoints");
  s.add("run.save_every", &run.save_every, "steps between checkpoints (one is always written at the end)");
  s.add("run.keep_checkpoints", &run.keep_checkpoints, "newest checkpoints kept; 0 = all");
  s.add("run.pool_threads", &run.pool_threads, "reward scoring threads (oneTBB)");

  s.add("model.preset", &cfg.model.preset, "fresh model for `grpo sft` without model.path: tiny-moe or test-moe");
  s.add("model.path", &cfg.model.path, "checkpoint to start from; `grpo train` defaults to the newest SFT checkpoint");

  rl::CountdownTaskConfig& task = cfg.task;
  s.add("task.n_numbers", &task.n_numbers, "numbers per Countdown problem (TinyZero: 3 or 4)");
  s.add("task.min_number", &task.min_number, "smallest number");
  s.add("task.max_number", &task.max_number, "largest number (TinyZero: 99)");
  s.add("task.min_target", &task.min_target, "smallest target");
  s.add("task.max_target", &task.max_target, "largest target");
  s.add("task.heldout_fraction", &task.heldout_fraction, "share of problems held out of training, chosen by hash");
  s.add("task.eval_size", &task.eval_size, "held-out problems scored by evaluations");
  s.add("task.trace", &task.trace, "SFT targets carry a <think> trace of the solution steps");
  s.add("task.integer_trace", &task.integer_trace, "prefer SFT solutions whose steps stay non-negative integers");
  s.add("task.chat_template", &task.chat_template,
        "prompt format: plain (the task text itself), qwen2.5, qwen3, deepseek-r1 or llama3 (one user turn)");

  s.add("sft.steps", &cfg.sft.steps, "SFT optimiser steps");
  s.add("sft.batch_size", &cfg.sft.batch_size, "SFT sequences per step");
  s.add("sft.eval_every", &cfg.sft.eval_every, "SFT steps between held-out evaluations; 0 = only at the end");
  s.add("sft.lr", &cfg.sft.optim.lr, "SFT peak learning rate");
  s.add("sft.warmup_steps", &cfg.sft.optim.warmup_steps, "SFT linear warm-up steps");
  s.add("sft.schedule", &cfg.sft.optim.schedule, "SFT schedule after warm-up: constant or cosine");
  s.add("sft.min_lr_ratio", &cfg.sft.optim.min_lr_ratio, "SFT cosine floor as a fraction of lr");
  s.add("sft.weight_decay", &cfg.sft.optim.weight_decay, "SFT AdamW decoupled weight decay");

  rl::GrpoConfig& g = cfg.grpo;
  rl::LearnerConfig& l = cfg.learner;
  s.add("rl.steps", &g.steps, "GRPO steps (one rollout batch and one optimiser step each)");
  s.add("rl.prompts_per_step", &g.prompts_per_step, "B: prompts per step");
  s.add("rl.group_size", &g.group_size, "G: completions per prompt");
  s.add("rl.drop_zero_variance", &g.drop_zero_variance, "leave groups with equal rewards out of the update");
  s.add("rl.scale_by_std", &g.advantage.scale_by_std, "divide advantages by the group std (GRPO); false = Dr. GRPO");
  s.add("rl.samples_every", &g.samples_every, "steps between writing a group's completions to samples.jsonl");
  s.add("rl.lr", &l.optim.lr, "GRPO peak learning rate");
  s.add("rl.warmup_steps", &l.optim.warmup_steps, "GRPO linear warm-up steps");
  s.add("rl.schedule", &l.optim.schedule, "GRPO schedule after warm-up: constant or cosine");
  s.add("rl.min_lr_ratio", &l.optim.min_lr_ratio, "GRPO cosine floor as a fraction of lr");
  s.add("rl.weight_decay", &l.optim.weight_decay, "AdamW decoupled weight decay");
  s.add("rl.beta1", &l.optim.beta1, "AdamW beta1");
  s.add("rl.beta2", &l.optim.beta2, "AdamW beta2");
  s.add("rl.grad_clip", &l.optim.grad_clip, "max global gradient norm; 0 = off");
  s.add("rl.clip_low", &l.loss.clip_low, "ratio floor 1 - clip_low (PPO)");
  s.add("rl.clip_high", &l.loss.clip_high, "ratio ceiling 1 + clip_high (DAPO clip-higher: 0.28)");
  s.add("rl.kl_coef", &l.loss.kl_coef, "KL penalty to the initial policy; 0 = off");
  s.add("rl.kl_estimator", &l.loss.kl_estimator, "k1, k2 or k3 (Schulman 2020)");
  s.add("rl.loss_aggregation", &loss_aggregation_, "token_mean (DAPO), seq_mean (GRPO) or constant (Dr. GRPO)");
  s.add("rl.constant_norm", &l.loss.constant_norm, "the constant normaliser of loss_aggregation = constant");
  s.add("rl.aux_loss_coef", &l.aux_loss_coef, "MoE load-balancing loss weight (SFT and GRPO); 0 = off");
  s.add("rl.micro_batch_tokens", &l.micro_batch_tokens, "padded tokens per forward/backward pass");

  s.add("rollout.temperature", &cfg.sampling.temperature, "sampling temperature (the learner divides logits by it too)");
  s.add("rollout.top_p", &cfg.sampling.top_p, "nucleus sampling mass; 1 = off");
  s.add("rollout.top_k", &cfg.sampling.top_k, "keep the k most likely tokens; 0 = off");
  s.add("rollout.max_new_tokens", &cfg.sampling.max_new_tokens, "completion token budget");
  s.add("rollout.stop", &cfg.engine.stop_tokens, "tokens that end a completion besides EOS, e.g. [\"</answer>\"]");
  s.add("rollout.max_batch", &cfg.engine.max_batch, "concurrent sequences (KV cache slots)");
  s.add("rollout.max_seq_len", &cfg.engine.max_seq_len, "prompt + completion tokens per KV cache slot");

  s.add("eval.every", &cfg.eval.every, "GRPO steps between held-out evaluations; 0 = only at the end");
  s.add("eval.pass_k", &cfg.eval.pass_k, "`grpo eval` also reports pass@k with k samples; 0 = off");
  s.add("eval.pass_temperature", &cfg.eval.pass_temperature, "sampling temperature of pass@k");
  s.add("eval.model", &cfg.eval.model, "`grpo eval` checkpoint: sft, grpo, latest or a directory");

  s.add_check([this] {
    cfg.sft.optim.total_steps = cfg.sft.steps;  // the cosine schedules span their phase
    cfg.learner.optim.total_steps = cfg.grpo.steps;
    GRPO_CHECK(cfg.run.seed >= 0, "run.seed must be >= 0, got ", cfg.run.seed);
    GRPO_CHECK(cfg.run.save_every >= 0 && cfg.run.keep_checkpoints >= 0 && cfg.run.pool_threads > 0,
               "run.save_every and run.keep_checkpoints must be >= 0 and run.pool_threads > 0");
    GRPO_CHECK(cfg.sft.steps >= 0 && cfg.sft.batch_size > 0, "sft.steps must be >= 0 and sft.batch_size > 0");
    GRPO_CHECK(cfg.eval.pass_k >= 0, "eval.pass_k must be >= 0, got ", cfg.eval.pass_k);
    cfg.task.validate();
    cfg.grpo.validate();
    cfg.sampling.validate();
    cfg.sft.optim.validate("sft.");
    cfg.learner.optim.validate("rl.");
  });
}

void Recipe::finish() { cfg.learner.loss.aggregation = rl::parse_loss_aggregation(loss_aggregation_); }

void Recipe::load(const std::string& path, const std::vector<std::string>& overrides) {
  schema_.load_toml_file(path);
  schema_.apply_overrides(overrides);
  schema_.validate();
  try {
    finish();
  } catch (const Error& e) {
    GRPO_FAIL("rl.loss_aggregation: ", e.what());
  }
  cfg.learner.loss.validate();
}

}  // namespace grpo::recipes
