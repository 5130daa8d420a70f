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
  cfg.engine.max_seq_len = 0;  // sized from the data
  bind();
}

void Recipe::bind() {
  ConfigSchema& s = schema_;
  rl::RunConfig& run = cfg.run;
  s.add("run.out_dir", &run.out_dir, "run directory; sft/ and grpo/ go under it");
  s.add("run.seed", &run.seed, "seed of model init, data order and sampling streams");
  s.add("run.device", &run.device, "\"cpu\", \"cuda\" or \"cuda:N\" (needs a CUDA LibTorch)");
  s.add("run.threads", &run.threads, "CPU threads (data-parallel workers); 0 = every core");
  s.add("run.dtype", &run.dtype, "compute dtype: auto (bfloat16 on CUDA, float32 on the CPU), float32 or bfloat16; "
        "bfloat16 generates with a bf16 copy of the weights and trains under autocast over float32 master weights");
  s.add("run.tf32", &run.tf32, "TF32 tensor cores for float32 matmuls on CUDA");
  s.add("run.resume", &run.resume, "continue from the newest checkpoint of the phase");
  s.add("run.overwrite", &run.overwrite, "start over in a phase directory that already has checkpoints");
  s.add("run.save_every", &run.save_every, "steps between checkpoints (one is always written at the end)");
  s.add("run.keep_checkpoints", &run.keep_checkpoints, "newest checkpoints kept; 0 = all");
  s.add("run.pool_threads", &run.pool_threads, "reward scoring threads (oneTBB)");
  s.add("run.allow_config_change", &run.allow_config_change, "run.resume may continue with a changed recipe "
        "(each resumed segment's config is kept beside config.toml)");
  s.add("run.tensorboard", &run.tensorboard, "write TensorBoard event files beside metrics.jsonl");
  s.add("run.dist_timeout", &run.dist_timeout, "several ranks (torchrun, grpo launch): seconds a rank waits in a "
        "collective before the job ends with an error naming it");
  s.add("run.placement", &run.placement, "several ranks: colocated (every rank generates and trains) or split (the "
        "last run.rollout_ranks ranks generate, the others train; weights broadcast after each update)");
  s.add("run.rollout_ranks", &run.rollout_ranks, "run.placement = split: how many ranks only generate");

  s.add("model.path", &cfg.model.path, "Hugging Face checkpoint directory to start from, or \"sft\": this run's newest SFT "
        "checkpoint");
  s.add("model.preset", &cfg.model.preset, "fresh model of `grpo sft` with sft.init = preset: tiny-moe, test-moe, "
        "tiny-qwen2, tiny-qwen3, tiny-qwen3-moe or tiny-llama");
  s.add("model.tokenizer", &cfg.model.tokenizer, "the fresh model's tokenizer: char, or a tokenizer directory or file");

  rl::data::DataConfig& d = cfg.data;
  s.add("data.source", &d.source, "files (data.train / data.eval), countdown (data.countdown.*) or arithmetic "
        "(word problems, data.arithmetic.*)");
  s.add("data.train", &d.train, "training datasets: JSONL or JSON-array files");
  s.add("data.eval", &d.eval, "evaluation datasets, one set per file");
  s.add("data.preset", &d.prompt.preset, "field layout: gsm8k, math, humaneval, countdown, trl, verl or \"\" (prompt/answer)");
  s.add("data.prompt_field", &d.prompt.prompt_field, "field with the prompt text or chat messages; \"\" = the preset's");
  s.add("data.answer_field", &d.prompt.answer_field, "field with the gold answer (dotted paths reach nested fields); "
        "\"\" = the preset's; none = no answer");
  s.add("data.response_field", &d.response_field, "SFT: field with the target text; \"\" = the generator's own");
  s.add("data.template", &d.prompt.prompt_template, "prompt text with {field} placeholders; \"\" = the prompt field as is");
  s.add("data.system_prompt", &d.prompt.system_prompt, "system message before the prompt; \"\" = none");
  s.add("data.chat_template", &d.chat_template, "auto (the checkpoint's; none = plain), plain, qwen2, qwen2.5, qwen3, "
        "deepseek-r1, llama3 or smollm2");
  s.add("data.max_prompt_tokens", &d.prompt.max_prompt_tokens, "longer prompts are dropped (and counted), never cut");
  s.add("data.eval_size", &d.eval_size, "first N prompts of each evaluation set; 0 = all");
  rl::data::CountdownConfig& cd = d.countdown;
  s.add("data.countdown.n_numbers", &cd.n_numbers, "numbers per Countdown problem (TinyZero: 3 or 4)");
  s.add("data.countdown.min_number", &cd.min_number, "smallest number");
  s.add("data.countdown.max_number", &cd.max_number, "largest number (TinyZero: 99)");
  s.add("data.countdown.min_target", &cd.min_target, "smallest target");
  s.add("data.countdown.max_target", &cd.max_target, "largest target");
  s.add("data.countdown.heldout_fraction", &cd.heldout_fraction, "share of problems held out of training, by hash");
  s.add("data.countdown.trace", &cd.trace, "SFT targets carry a <think> trace of the solution steps");
  s.add("data.countdown.integer_trace", &cd.integer_trace, "prefer SFT solutions whose steps stay non-negative integers");
  rl::data::ArithmeticConfig& ar = d.arithmetic;
  s.add("data.arithmetic.n_problems", &ar.n_problems, "distinct word problems generated (train + held out)");
  s.add("data.arithmetic.min_steps", &ar.min_steps, "fewest operations per problem");
  s.add("data.arithmetic.max_steps", &ar.max_steps, "most operations per problem (at most 5)");
  s.add("data.arithmetic.max_number", &ar.max_number, "largest number added or given away");
  s.add("data.arithmetic.max_factor", &ar.max_factor, "largest multiplier or divisor");
  s.add("data.arithmetic.max_value", &ar.max_value, "largest intermediate value and answer");
  s.add("data.arithmetic.heldout_fraction", &ar.heldout_fraction, "share of problems held out, by hash of the question");
  s.add("data.arithmetic.set_seed", &ar.set_seed, "seed of the problem set (not run.seed: the split stays put)");

  rewards::RewardMixConfig& rw = cfg.reward;
  s.add("reward.weights", &rw.weights, "reward components and weights: math, countdown, code, format (think block "
        "+ answer), boxed (one \\boxed{} answer), overlong, external; reward = sum of weight * value");
  s.add("reward.verifier", &rw.verifier, "the component whose verdict is accuracy; \"\" = the only non-shaping one");
  s.add("reward.overlong_buffer", &rw.overlong_buffer, "DAPO soft overlong penalty: the last N tokens of the budget "
        "(component overlong)");
  s.add("reward.external_command", &cfg.external.command, "the external reward program (sh -c): JSON lines in, one "
        "reward per line out");
  s.add("reward.external_timeout", &cfg.external.timeout_seconds, "seconds the external program has per completion");

  s.add("sft.init", &cfg.sft.init, "what SFT starts from: model (model.path) or preset (a fresh model.preset)");
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
  s.add("rl.signal", &g.signal, "what must differ within a group: reward, or verifier (groups that differ only by "
        "shaping terms such as format get advantage 0)");
  s.add("rl.scale_by_std", &g.advantage.scale_by_std, "divide advantages by the group std (GRPO); false = Dr. GRPO");
  s.add("rl.std_scope", &g.advantage.std_scope, "the std advantages are divided by: group (GRPO) or batch (all rewards "
        "of the generation round; TRL's scale_rewards = batch)");
  s.add("rl.dynamic_sampling", &g.dynamic_sampling, "DAPO dynamic sampling: draw more prompts until prompts_per_step "
        "groups carry signal (needs drop_zero_variance)");
  s.add("rl.max_staleness", &g.max_staleness, "run.placement = split: updates a step's completions may lag the "
        "weights it trains (1: the next step's rollout overlaps this step's update; 0: none)");
  s.add("rl.max_draw_rounds", &g.max_draw_rounds, "generation rounds per step with dynamic sampling, the first included");
  s.add("rl.mask_truncated", &g.mask_truncated, "completions cut at rollout.max_new_tokens carry no loss (DAPO overlong "
        "filtering; the soft penalty is the reward component overlong)");
  s.add("rl.spike_factor", &g.guard.factor, "spike guard: skip an update whose grad norm or |loss| exceeds this many "
        "times its running median; 0 = off (NaN/Inf are always skipped)");
  s.add("rl.spike_window", &g.guard.window, "spike guard: accepted updates the medians are taken over");
  s.add("rl.spike_warmup", &g.guard.warmup, "spike guard: accepted updates before it judges");
  s.add("rl.spike_max_skips", &g.guard.max_skips, "spike guard: skipped updates in a row that roll back to the last "
        "checkpoint saved before them; 0 = never");
  s.add("rl.routing_replay", &g.routing_replay, "MoE: the learner uses the experts the rollout chose for each token");
  s.add("rl.router_bias_rate", &g.router_bias_rate, "DeepSeek-V3 auxiliary-loss-free balancing: the router bias moves by "
        "this per step against the expert load (0 = off; DeepSeek-V3: 0.001)");
  s.add("rl.mu", &g.mu, "optimisation passes over each rollout batch (PPO epochs), all against the rollout's log-probs");
  s.add("rl.samples_every", &g.samples_every, "steps between writing a group's completions to samples.jsonl");
  s.add("rl.stream_scoring", &g.stream_scoring, "score completions as they finish, overlapping the checks (the code "
        "sandbox above all) with generation; false scores the whole batch after it");
  s.add("rl.lr", &l.optim.lr, "GRPO peak learning rate");
  s.add("rl.warmup_steps", &l.optim.warmup_steps, "GRPO linear warm-up steps");
  s.add("rl.schedule", &l.optim.schedule, "GRPO schedule after warm-up: constant or cosine");
  s.add("rl.min_lr_ratio", &l.optim.min_lr_ratio, "GRPO cosine floor as a fraction of lr");
  s.add("rl.weight_decay", &l.optim.weight_decay, "AdamW decoupled weight decay");
  s.add("rl.beta1", &l.optim.beta1, "AdamW beta1");
  s.add("rl.beta2", &l.optim.beta2, "AdamW beta2");
  s.add("rl.grad_clip", &l.optim.grad_clip, "max global gradient norm; 0 = off");
  s.add("rl.loss", &l.loss.loss, "policy loss: clip (PPO/GRPO/DAPO), cispo (clipped IS weight, stop-gradient) or sapo "
        "(soft gate)");
  s.add("rl.ratio_level", &l.loss.ratio_level, "token, or sequence (GSPO: one ratio per sequence, the mean log-ratio)");
  s.add("rl.clip_low", &l.loss.clip_low, "ratio floor 1 - clip_low (PPO)");
  s.add("rl.clip_high", &l.loss.clip_high, "ratio ceiling 1 + clip_high (DAPO clip-higher: 0.28)");
  s.add("rl.dual_clip", &l.loss.dual_clip, "dual clip: the unclipped ratio is capped at this (> 1 + clip_high; 0 = off)");
  s.add("rl.cispo_max", &l.loss.cispo_max, "cispo: the importance weight's cap");
  s.add("rl.sapo_tau_pos", &l.loss.sapo_tau_pos, "sapo: gate temperature for positive advantages");
  s.add("rl.sapo_tau_neg", &l.loss.sapo_tau_neg, "sapo: gate temperature for negative advantages");
  s.add("rl.entropy_coef", &l.loss.entropy_coef, "entropy bonus weight (token-mean entropy); 0 = off");
  s.add("rl.is_correction", &l.loss.is_correction, "rollout-to-learner importance weights: none, token_truncate (TIS), "
        "token_mask, sequence_truncate or sequence_mask; the learner rescores each batch before its update");
  s.add("rl.is_cap", &l.loss.is_cap, "the importance weights' cap");
  s.add("rl.kl_coef", &l.loss.kl_coef, "KL penalty to the initial policy; 0 = off");
  s.add("rl.kl_estimator", &l.loss.kl_estimator, "k1, k2 or k3 (Schulman 2020)");
  s.add("rl.kl_placement", &l.loss.kl_placement, "loss: beta x KL per token in the loss (GRPO); reward: beta x the "
        "sequence's KL off its reward before advantages");
  s.add("rl.loss_aggregation", &loss_aggregation_, "token_mean (DAPO), seq_mean (GRPO), constant (Dr. GRPO) or seq_sum");
  s.add("rl.constant_norm", &l.loss.constant_norm, "the constant normaliser of loss_aggregation = constant");
  s.add("rl.activation_checkpointing", &l.checkpoint_layers, "keep only each layer's input for the backward and run "
        "the layer again there: less memory, one more forward");
  s.add("rl.aux_loss_coef", &l.aux_loss_coef, "MoE load-balancing loss weight (SFT and GRPO); 0 = off");
  s.add("rl.micro_batch_tokens", &l.micro_batch_tokens, "padded tokens per forward/backward pass");

  s.add("rollout.temperature", &cfg.sampling.temperature, "sampling temperature (the learner divides logits by it too)");
  s.add("rollout.top_p", &cfg.sampling.top_p, "nucleus sampling mass; 1 = off");
  s.add("rollout.top_k", &cfg.sampling.top_k, "keep the k most likely tokens; 0 = off");
  s.add("rollout.min_p", &cfg.sampling.min_p, "drop tokens less likely than min_p times the most likely one; 0 = off");
  s.add("rollout.max_new_tokens", &cfg.sampling.max_new_tokens, "completion token budget");
  s.add("rollout.stop", &cfg.engine.stop, "strings that end a completion besides EOS, any length, e.g. [\"</answer>\"]");
  s.add("rollout.max_batch", &cfg.engine.max_batch, "running sequences at most (the scheduler's cap)");
  s.add("rollout.max_seq_len", &cfg.engine.max_seq_len, "prompt + completion tokens of one sequence; 0 = the longest "
        "prompt + max_new_tokens");
  s.add("rollout.block_size", &cfg.engine.block_size, "tokens per block of the paged KV cache");
  s.add("rollout.kv_cache_mb", &cfg.engine.kv_cache_mb, "the KV block pool in MiB; 0 = room for max_batch sequences of "
        "max_seq_len (never preempts); smaller pools preempt the youngest sequences, which are recomputed later");
  s.add("rollout.max_prefill_tokens", &cfg.engine.max_prefill_tokens, "tokens through one prefill forward; longer "
        "prompts are prefilled in chunks");
  s.add("rollout.share_prefix", &cfg.engine.share_prefix, "the G samples of a prompt share its KV blocks, and prompts "
        "with a common start (a system prompt) reuse its cached blocks");

  s.add("eval.every", &cfg.eval.every, "training steps between held-out evaluations; 0 = only at the end");
  s.add("eval.samples", &cfg.eval.samples, "`grpo eval`: k samples per prompt for avg@k, maj@k, pass@k; 0 = greedy only");
  s.add("eval.temperature", &cfg.eval.temperature, "temperature of the k samples (DeepSeek-R1 protocol: 0.6)");
  s.add("eval.top_p", &cfg.eval.top_p, "top-p of the k samples (DeepSeek-R1 protocol: 0.95)");
  s.add("eval.bootstrap", &cfg.eval.bootstrap, "bootstrap resamples for avg@k's standard error");
  s.add("eval.model", &cfg.eval.model, "`grpo eval` checkpoint: sft, grpo, latest, model (model.path) or a directory");
  s.add("eval.output_dir", &cfg.eval.output_dir, "`grpo eval`: where <set>.jsonl completions go; \"\" = <run.out_dir>/eval");

  s.add_check([this] {
    cfg.sft.optim.total_steps = cfg.sft.steps;  // the cosine schedules span their phase
    cfg.learner.optim.total_steps = cfg.grpo.steps;
    cfg.run.validate();
    GRPO_CHECK(cfg.sft.steps >= 0 && cfg.sft.batch_size > 0, "sft.steps must be >= 0 and sft.batch_size > 0");
    GRPO_CHECK(cfg.sft.eval_every >= 0, "sft.eval_every must be >= 0 (0 = only at the end), got ", cfg.sft.eval_every);
    GRPO_CHECK(cfg.sft.init == "model" || cfg.sft.init == "preset", "sft.init must be \"model\" or \"preset\", got '",
               cfg.sft.init, "'");
    GRPO_CHECK(cfg.grpo.samples_every >= 0, "rl.samples_every must be >= 0 (0 = never), got ", cfg.grpo.samples_every);
    GRPO_CHECK(cfg.learner.micro_batch_tokens > 0, "rl.micro_batch_tokens must be > 0, got ",
               cfg.learner.micro_batch_tokens);
    GRPO_CHECK(cfg.engine.max_batch > 0, "rollout.max_batch must be > 0, got ", cfg.engine.max_batch);
    GRPO_CHECK(cfg.engine.max_seq_len >= 0, "rollout.max_seq_len must be >= 0 (0 = auto), got ", cfg.engine.max_seq_len);
    GRPO_CHECK(cfg.engine.block_size >= 1, "rollout.block_size must be >= 1, got ", cfg.engine.block_size);
    GRPO_CHECK(cfg.engine.kv_cache_mb >= 0, "rollout.kv_cache_mb must be >= 0 (0 = auto), got ", cfg.engine.kv_cache_mb);
    GRPO_CHECK(cfg.engine.max_prefill_tokens >= 1, "rollout.max_prefill_tokens must be >= 1, got ",
               cfg.engine.max_prefill_tokens);
    cfg.data.validate();
    cfg.reward.validate(!cfg.external.command.empty());
    GRPO_CHECK(cfg.external.timeout_seconds > 0, "reward.external_timeout must be > 0 seconds");
    cfg.grpo.validate();
    cfg.sampling.validate();
    cfg.eval.validate();
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

std::vector<std::string> Recipe::changed_keys(const std::string& previous_config) const {
  Recipe before;
  try {
    before.schema_.load_toml_file(previous_config);
  } catch (const Error& e) {
    GRPO_FAIL("run.resume: the previous recipe ", previous_config, " no longer loads (", e.what(), "); hint: pass "
              "run.allow_config_change=true to resume anyway");
  }
  auto is_exempt = [&](const std::string& key) {
    for (const char* prefix : {"run.resume", "run.overwrite", "run.allow_config_change", "run.threads",
                               "run.pool_threads", "run.save_every", "run.keep_checkpoints", "run.tensorboard", "run.dist_timeout", "run.placement",
                               "run.rollout_ranks", "eval.", "rl.samples_every",
                               "sft.eval_every"}) {
      if (key.rfind(prefix, 0) == 0) return true;
    }
    // More steps on a constant schedule continue the same run; on a cosine schedule they change every lr.
    if (key == "rl.steps") return cfg.learner.optim.schedule == "constant";
    if (key == "sft.steps") return cfg.sft.optim.schedule == "constant";
    return false;
  };
  const auto now = schema_.values(), then = before.schema_.values();
  std::vector<std::string> changed;
  for (size_t i = 0; i < now.size(); ++i) {
    if (now[i].second != then[i].second && !is_exempt(now[i].first)) changed.push_back(now[i].first);
  }
  return changed;
}

}  // namespace grpo::recipes
