// The GRPO step; see grpo_step.h. The function grpo_step is the paragraph; helpers below it do the packing.
#include "rl/grpo_step.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>

#include "kernels/check.h"
#include "rewards/external.h"
#include "rl/batch.h"
#include "rl/metrics.h"

namespace grpo::rl {

void GrpoConfig::validate() const {
  GRPO_CHECK(steps >= 0, "rl.steps must be >= 0, got ", steps);
  GRPO_CHECK(prompts_per_step > 0, "rl.prompts_per_step must be > 0, got ", prompts_per_step);
  GRPO_CHECK(group_size >= 2, "rl.group_size must be >= 2 (advantages compare samples of a group), got ",
             group_size);
  GRPO_CHECK(signal == "reward" || signal == "verifier", "rl.signal must be reward or verifier, got \"", signal,
             "\"");
  GRPO_CHECK(!dynamic_sampling || drop_zero_variance, "rl.dynamic_sampling needs rl.drop_zero_variance = true");
  GRPO_CHECK(max_draw_rounds >= 1, "rl.max_draw_rounds must be >= 1, got ", max_draw_rounds);
  GRPO_CHECK(mu >= 1, "rl.mu must be >= 1, got ", mu);
  guard.validate();
  GRPO_CHECK(router_bias_rate >= 0, "rl.router_bias_rate must be >= 0, got ", router_bias_rate);
  GRPO_CHECK(max_staleness >= 0, "rl.max_staleness must be >= 0, got ", max_staleness);
}

namespace {

// Wall-clock time of each named stage.
class StageTimer {
 public:
  template <typename F>
  auto time(const char* name, F&& f) {
    auto t0 = std::chrono::steady_clock::now();
    if constexpr (std::is_void_v<decltype(f())>) {
      f();
      add(name, elapsed(t0));
    } else {
      auto r = f();
      add(name, elapsed(t0));
      return r;
    }
  }
  double operator[](const char* name) const { return times_.value(name, 0.0); }
  const nlohmann::json& all() const { return times_; }

  void add(const char* name, double seconds) { times_[name] = times_.value(name, 0.0) + seconds; }  // rounds add up

 private:
  static double elapsed(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  nlohmann::json times_ = nlohmann::json::object();
};

// The next n draws of the stream; with several ranks, this rank's contiguous slice of them (whole groups), the first
// of which is draw *first.
std::vector<rollout::Prompt> draw_prompts(GrpoContext& ctx, int64_t n, int64_t* first) {
  std::vector<rollout::Prompt> prompts;
  const int64_t begin = n * ctx.rank / ctx.world_size, end = n * (ctx.rank + 1) / ctx.world_size;
  for (int64_t i = begin; i < end; ++i) prompts.push_back(ctx.stream.prompt(ctx.data_cursor + i));
  *first = ctx.data_cursor + begin;
  ctx.data_cursor += n;
  return prompts;
}

at::Tensor reward_matrix(const std::vector<rewards::Score>& scores, int64_t B, int64_t G) {
  at::Tensor r = at::empty({B, G}, at::kDouble);
  double* p = r.data_ptr<double>();
  for (size_t i = 0; i < scores.size(); ++i) p[i] = scores[i].value;
  return r;
}

at::Tensor correct_matrix(const std::vector<rewards::Score>& scores, int64_t B, int64_t G) {
  at::Tensor c = at::empty({B, G}, at::kBool);
  bool* p = c.data_ptr<bool>();
  for (size_t i = 0; i < scores.size(); ++i) p[i] = scores[i].verdict == rewards::Verdict::ok;
  return c;
}

// The sequences that carry signal, packed for the learner; zero rows when none does.
// groups: which groups go in (signal and dynamic sampling decided); mask_truncated leaves out cut-off completions.
TrainBatch build_batch(GrpoContext& ctx, const std::vector<rollout::Prompt>& prompts,
                       const std::vector<rollout::Completion>& completions, const AdvantageResult& adv,
                       const std::vector<int64_t>& groups) {
  const int64_t G = ctx.cfg.group_size;
  const float* a = adv.advantages.data_ptr<float>();
  std::vector<SequenceParts> parts;
  for (int64_t group : groups) {
    for (int64_t j = 0; j < G; ++j) {
      const size_t i = static_cast<size_t>(group * G + j);
      if (ctx.cfg.mask_truncated && completions[i].finish_reason == rollout::FinishReason::length) continue;
      parts.push_back({&prompts[group].token_ids, &completions[i].token_ids, &completions[i].logprobs, a[i],
                       ctx.cfg.routing_replay ? &completions[i].routing : nullptr});
    }
  }
  // No group carries signal: zero rows (with ranks, this rank still joins the update's collectives).
  TrainBatch b = parts.empty() ? empty_batch(ctx.device) : pack_sequences(parts, ctx.tokenizer.pad_id(), ctx.device);
  GRPO_CHECK(!ctx.cfg.routing_replay || parts.empty() || b.routes.defined(),
             "rl.routing_replay: the completions carry no routing; "
             "hint: the model has no MoE layers, or the engine was not asked to record it (rollout record_routing)");
  b.temperature = completions.front().logprob_temperature;
  for (const auto& c : completions) {
    GRPO_CHECK(c.logprob_temperature == b.temperature, "a batch mixes log-probs taken at temperatures ",
               b.temperature, " and ", c.logprob_temperature);
  }
  return b;
}

nlohmann::json summarize(int64_t step, const std::vector<rollout::Completion>& completions,
                         const std::vector<rewards::Score>& scores, const AdvantageResult& adv,
                         const rollout::GenerationStats& gen, const UpdateStats& up, const StageTimer& timer,
                         double step_seconds) {
  const double n = static_cast<double>(scores.size());
  double sum = 0, sq = 0, correct = 0, formatted = 0, length = 0, truncated = 0;
  for (size_t i = 0; i < scores.size(); ++i) {
    sum += scores[i].value;
    sq += scores[i].value * scores[i].value;
    correct += scores[i].verdict == rewards::Verdict::ok;
    formatted += scores[i].verdict == rewards::Verdict::ok || scores[i].verdict == rewards::Verdict::wrong;
    length += static_cast<double>(completions[i].token_ids.size());
    truncated += completions[i].finish_reason == rollout::FinishReason::length;
  }
  const double mean = sum / n;
  nlohmann::json components = nlohmann::json::object();  // each reward component's mean, unweighted
  nlohmann::json verdicts = nlohmann::json::object();    // how many completions got each verdict
  for (const auto& s : scores) {
    for (const auto& [name, v] : s.components) components[name] = components.value(name, 0.0) + v / n;
    const char* v = rewards::verdict_name(s.verdict);
    verdicts[v] = verdicts.value(v, 0) + 1;
  }
  return {{"step", step + 1},
          {"reward_components", components},
          {"verdicts", verdicts},
          {"reward_mean", mean},
          {"reward_std", std::sqrt(std::max(0.0, sq / n - mean * mean))},
          {"accuracy", correct / n},
          {"format_rate", formatted / n},
          {"completion_len", length / n},
          {"truncated_rate", truncated / n},
          {"zero_variance_groups", adv.n_zero_variance},
          {"loss", up.loss},
          {"pg_loss", up.pg_loss},
          {"aux_loss", up.aux_loss},
          {"kl", up.kl},
          {"entropy", up.entropy},
          {"clip_fraction", up.clip_fraction},
          {"clip_low_fraction", up.clip_low_fraction},
          {"clip_high_fraction", up.clip_high_fraction},
          {"is_weight_mean", up.is_weight_mean},
          {"ratio_mean", up.ratio_mean},
          {"grad_norm", up.grad_norm},
          {"update_skipped", up.skipped},
          {"lr", up.lr},
          {"rollout_tokens_per_s", gen.seconds > 0 ? gen.generated_tokens / gen.seconds : 0.0},
          {"kv_peak_mb", static_cast<double>(gen.kv_blocks_peak * gen.kv_block_bytes) / (1 << 20)},
          {"kv_preemptions", gen.preemptions},
          {"prefix_hit_tokens", gen.prefix_hit_tokens},
          {"learner_tokens_per_s", up.seconds > 0 ? up.tokens / up.seconds : 0.0},
          {"learner_tokens", up.tokens},
          {"step_seconds", step_seconds},
          {"peak_rss_mib", peak_rss_mib()},
          {"time", timer.all()}};
}

std::vector<nlohmann::json> sample_records(GrpoContext& ctx, int64_t step, const std::vector<rollout::Prompt>& prompts,
                                           const std::vector<rollout::Completion>& completions,
                                           const std::vector<rewards::Score>& scores, const at::Tensor& advantages) {
  std::vector<nlohmann::json> out;
  if (ctx.cfg.samples_every <= 0 || step % ctx.cfg.samples_every != 0) return out;
  const float* a = advantages.data_ptr<float>();
  for (int64_t j = 0; j < ctx.cfg.group_size; ++j) {
    const auto& c = completions[static_cast<size_t>(j)];
    const auto& s = scores[static_cast<size_t>(j)];
    out.push_back({{"step", step + 1},
                   {"prompt", prompts[0].text},
                   {"completion", c.text},
                   {"finish_reason", rollout::finish_reason_name(c.finish_reason)},
                   {"reward", s.value},
                   {"verdict", rewards::verdict_name(s.verdict)},
                   {"detail", s.detail},
                   {"advantage", a[j]}});
  }
  return out;
}

}  // namespace

std::vector<rewards::Score> score_completions(rewards::ScorePool& pool, const rewards::RewardMixConfig& reward,
                                              const std::vector<rollout::Prompt>& prompts,
                                              const std::vector<rollout::Completion>& completions,
                                              int64_t n_samples, int64_t max_new_tokens) {
  GRPO_CHECK(completions.size() == prompts.size() * static_cast<size_t>(n_samples), "score_completions: ",
             completions.size(), " completions for ", prompts.size(), " prompts x ", n_samples);
  // The external program also gets the prompt text.
  std::vector<rewards::Meta> with_prompt;
  if (reward.weights.count(rewards::kExternalComponent)) {
    for (const auto& p : prompts) {
      with_prompt.push_back(p.meta);
      with_prompt.back()[rewards::kPromptMetaKey] = p.text;
    }
  }
  std::vector<rewards::MixRequest> req;
  req.reserve(completions.size());
  for (size_t i = 0; i < completions.size(); ++i) {
    const size_t p = i / static_cast<size_t>(n_samples);
    req.push_back({completions[i].text, with_prompt.empty() ? &prompts[p].meta : &with_prompt[p],
                   static_cast<int64_t>(completions[i].token_ids.size()), max_new_tokens});
  }
  return rewards::score_mix(pool, reward, req);
}

namespace {

// Scores completions while the rest are still generating: the engine hands over each finished one (from its worker
// threads), and a scoring thread takes whatever has arrived and scores it as one batch in the pool. The scores are
// those score_completions gives: each completion is scored alone, whatever batch it arrives in.
class StreamingScorer {
 public:
  StreamingScorer(rewards::ScorePool& pool, const rewards::RewardMixConfig& reward,
                  const std::vector<rollout::Prompt>& prompts, int64_t n_samples, int64_t max_new_tokens)
      : pool_(pool), reward_(reward), prompts_(prompts), n_samples_(n_samples), max_new_tokens_(max_new_tokens),
        scores_(prompts.size() * static_cast<size_t>(n_samples)), scored_(scores_.size(), false) {
    if (reward.weights.count(rewards::kExternalComponent)) {  // the external program also gets the prompt text
      for (const auto& p : prompts) {
        with_prompt_.push_back(p.meta);
        with_prompt_.back()[rewards::kPromptMetaKey] = p.text;
      }
    }
    thread_ = std::thread([this] { loop(); });
  }
  ~StreamingScorer() { stop(); }

  void submit(size_t index, const rollout::Completion& c) {
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.push_back({index, c.text, static_cast<int64_t>(c.token_ids.size())});
    ready_.notify_one();
  }

  // Waits for the rest; every completion must have been submitted.
  std::vector<rewards::Score> finish() {
    stop();
    if (error_) std::rethrow_exception(error_);
    for (size_t i = 0; i < scored_.size(); ++i) GRPO_CHECK(scored_[i], "streaming scorer: completion ", i, " was never scored");
    return std::move(scores_);
  }

 private:
  struct Item {
    size_t index;
    std::string text;
    int64_t n_tokens;
  };
  void stop() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      done_ = true;
    }
    ready_.notify_one();
    if (thread_.joinable()) thread_.join();
  }
  void loop() {
    while (true) {
      std::vector<Item> batch;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        ready_.wait(lock, [this] { return done_ || !queue_.empty(); });
        if (queue_.empty()) return;  // done, and nothing left
        batch.swap(queue_);
      }
      if (error_) continue;
      try {
        std::vector<rewards::MixRequest> req;
        for (const Item& it : batch) {
          const size_t p = it.index / static_cast<size_t>(n_samples_);
          req.push_back({it.text, with_prompt_.empty() ? &prompts_[p].meta : &with_prompt_[p], it.n_tokens,
                         max_new_tokens_});
        }
        std::vector<rewards::Score> s = rewards::score_mix(pool_, reward_, req);
        for (size_t k = 0; k < batch.size(); ++k) {
          scores_[batch[k].index] = std::move(s[k]);
          scored_[batch[k].index] = true;
        }
      } catch (...) {
        error_ = std::current_exception();
      }
    }
  }

  rewards::ScorePool& pool_;
  const rewards::RewardMixConfig& reward_;
  const std::vector<rollout::Prompt>& prompts_;
  const int64_t n_samples_, max_new_tokens_;
  std::vector<rewards::Meta> with_prompt_;
  std::vector<rewards::Score> scores_;
  std::vector<bool> scored_;
  std::vector<Item> queue_;
  std::mutex mutex_;
  std::condition_variable ready_;
  bool done_ = false;
  std::exception_ptr error_;
  std::thread thread_;
};

}  // namespace

Round generate_and_score(rollout::RolloutEngine& engine, rewards::ScorePool& pool,
                         const rewards::RewardMixConfig& reward, const rollout::SamplingConfig& sampling,
                         const std::vector<rollout::Prompt>& prompts, int64_t G, bool stream_scoring) {
  using clock = std::chrono::steady_clock;
  auto since = [](clock::time_point t) { return std::chrono::duration<double>(clock::now() - t).count(); };
  Round r;
  auto t0 = clock::now();
  if (stream_scoring) {
    StreamingScorer scorer(pool, reward, prompts, G, sampling.max_new_tokens);
    r.completions = engine.generate(prompts, G, sampling,
                                    [&](size_t i, const rollout::Completion& c) { scorer.submit(i, c); });
    r.generate_seconds = since(t0);
    t0 = clock::now();
    r.scores = scorer.finish();
  } else {
    r.completions = engine.generate(prompts, G, sampling);
    r.generate_seconds = since(t0);
    t0 = clock::now();
    r.scores = score_completions(pool, reward, prompts, r.completions, G, sampling.max_new_tokens);
  }
  r.score_seconds = since(t0);
  r.stats = engine.last_stats();
  return r;
}

namespace {

// A step's round: its own engine's ("generate", then "score"), or in split placement the rollout ranks'
// ("rollout_wait": the time this learner waited for them).
Round own_or_fetched_round(GrpoContext& ctx, int64_t step, int64_t first_draw,
                           const std::vector<rollout::Prompt>& prompts, StageTimer& timer) {
  if (prompts.empty()) return {};  // a rank's slice of a small dynamic-sampling round
  if (ctx.source != nullptr) {
    Round r = timer.time("rollout_wait", [&] { return ctx.source->fetch(step, first_draw, prompts); });
    timer.add("rollout_generate", r.generate_seconds);  // the rollout ranks' own time, partly hidden by the overlap
    return r;
  }
  Round r = generate_and_score(ctx.engine, ctx.pool, ctx.reward, ctx.sampling, prompts, ctx.cfg.group_size,
                               ctx.cfg.stream_scoring);
  timer.add("generate", r.generate_seconds);
  timer.add("score", r.score_seconds);
  return r;
}

// The reference model's KL estimate summed over each completion's tokens, [n * G] float32 in engine order.
at::Tensor sequence_kl(GrpoContext& ctx, const std::vector<rollout::Prompt>& prompts,
                       const std::vector<rollout::Completion>& completions, const LossConfig& loss) {
  const size_t G = static_cast<size_t>(ctx.cfg.group_size);
  std::vector<SequenceParts> parts;
  for (size_t i = 0; i < completions.size(); ++i) {
    parts.push_back({&prompts[i / G].token_ids, &completions[i].token_ids, &completions[i].logprobs, 0.0f});
  }
  TrainBatch b = pack_sequences(parts, ctx.tokenizer.pad_id(), ctx.device);
  b.temperature = completions.front().logprob_temperature;
  at::Tensor ref = score_tokens(ctx.reference, b, b.temperature, ctx.micro_batch_tokens, ctx.learner.compute_dtype());
  return (kl_estimate(b.old_logprobs, ref, loss.kl_estimator) * b.loss_mask).sum(1).to(at::kFloat).cpu();
}

// A step's generation over its rounds: counts and time add up, the KV peak is the largest round's.
void add_stats(rollout::GenerationStats& total, const rollout::GenerationStats& s) {
  total.add_counts(s);
  total.kv_blocks_peak = std::max(total.kv_blocks_peak, s.kv_blocks_peak);
  total.kv_block_bytes = s.kv_block_bytes;
  total.seconds += s.seconds;
}

// A step's rollouts: one generation round, or with dynamic sampling as many as it takes (up to max_draw_rounds) for
// B groups whose rewards differ. Groups are kept in draw order; surplus ones are dropped, as DAPO does.
struct Rollouts {
  std::vector<rollout::Prompt> prompts;
  std::vector<rollout::Completion> completions;
  std::vector<rewards::Score> scores;
  AdvantageResult adv;          // over every drawn group
  std::vector<int64_t> groups;  // the groups that go into the update
  rollout::GenerationStats gen;
  int64_t rounds = 0;
  double kl_reward_sum = 0;     // KL in the reward: summed sequence KL and how many sequences
  int64_t kl_reward_n = 0;
};

// Dynamic sampling over ranks: each draws its slice of every round, so the groups' draw order is round by round, rank
// by rank. Keeps this rank's groups that fall within the first B kept groups of that order; `kept` holds, per round,
// every rank's count of kept groups.
void keep_first_b_across_ranks(Rollouts& out, const std::vector<std::vector<double>>& kept,
                               const std::vector<size_t>& round_begin, int64_t rank, int64_t B) {
  std::vector<int64_t> groups;
  int64_t left = B;
  for (size_t round = 0; round < kept.size(); ++round) {
    for (int64_t r = 0; r < static_cast<int64_t>(kept[round].size()); ++r) {
      const int64_t take = std::min<int64_t>(left, static_cast<int64_t>(kept[round][static_cast<size_t>(r)]));
      left -= take;
      if (r != rank) continue;
      const size_t end = round + 1 < round_begin.size() ? round_begin[round + 1] : out.groups.size();
      for (size_t i = round_begin[round]; i < end && static_cast<int64_t>(i - round_begin[round]) < take; ++i) {
        groups.push_back(out.groups[i]);
      }
    }
  }
  out.groups = std::move(groups);
}

Rollouts collect_rollouts(GrpoContext& ctx, int64_t step, StageTimer& timer) {
  const int64_t B = ctx.cfg.prompts_per_step, G = ctx.cfg.group_size;
  const bool over_ranks = ctx.cfg.dynamic_sampling && ctx.world_size > 1;
  GRPO_CHECK(!over_ranks || ctx.dist != nullptr, "dynamic sampling over ranks needs their group");
  Rollouts out;
  std::vector<at::Tensor> adv_parts, zero_parts;
  std::vector<std::vector<double>> kept_per_round;  // over ranks: every rank's kept groups, per round
  std::vector<size_t> round_begin;                  // where each round's groups start in out.groups
  int64_t want = B, have = 0, drawn = 0;            // over every rank
  while (true) {
    int64_t first = 0;
    auto drawn_here = timer.time("prompts", [&] { return draw_prompts(ctx, want, &first); });
    Round r = own_or_fetched_round(ctx, step, first, drawn_here, timer);
    add_stats(out.gen, r.stats);
    const int64_t n = static_cast<int64_t>(drawn_here.size()), offset = static_cast<int64_t>(out.prompts.size());
    at::Tensor rewards = reward_matrix(r.scores, n, G);
    const LossConfig& loss_cfg = ctx.learner.config().loss;
    if (ctx.reference && loss_cfg.kl_placement == "reward" && n > 0) {
      // KL in the reward: each completion's summed KL estimate to the reference, times beta, off its reward.
      at::Tensor kl = timer.time("reference", [&] { return sequence_kl(ctx, drawn_here, r.completions, loss_cfg); });
      rewards -= loss_cfg.kl_coef * kl.view({n, G}).to(at::kDouble);
      out.kl_reward_sum += kl.sum().item<double>();
      out.kl_reward_n += kl.numel();
    }
    AdvantageResult a = timer.time("advantages", [&] {
      // With ranks, a batch-wide std is the whole batch's: from the sums over every rank's rewards.
      AdvantageConfig acfg = ctx.cfg.advantage;
      const bool global_std = ctx.world_size > 1 && acfg.scale_by_std && acfg.std_scope == "batch";
      if (global_std) acfg.scale_by_std = false;
      AdvantageResult a = compute_group_advantages(rewards, acfg);
      if (global_std) {
        GRPO_CHECK(ctx.dist != nullptr, "a batch-wide std over ranks needs their group");
        auto t = ctx.dist->all_reduce_sum(std::vector<double>{rewards.sum().item<double>(),
                                                              (rewards * rewards).sum().item<double>(),
                                                              static_cast<double>(rewards.numel())},
                                          "the batch's reward sums");
        const double std = std::sqrt(std::max(0.0, (t[1] - t[0] * t[0] / t[2]) / std::max(1.0, t[2] - 1)));
        a.advantages = a.advantages / static_cast<float>(std + acfg.eps);
      }
      if (ctx.cfg.signal == "verifier") mark_verifier_ties(a, correct_matrix(r.scores, n, G));
      return a;
    });
    const bool* zero = a.zero_variance.data_ptr<bool>();
    round_begin.push_back(out.groups.size());
    for (int64_t g = 0; g < n; ++g) {
      if (!ctx.cfg.drop_zero_variance || !zero[g]) out.groups.push_back(offset + g);
    }
    const int64_t kept_here = static_cast<int64_t>(out.groups.size() - round_begin.back());
    if (over_ranks) {
      std::vector<double> counts(static_cast<size_t>(ctx.world_size), 0.0);
      counts[static_cast<size_t>(ctx.rank)] = static_cast<double>(kept_here);
      kept_per_round.push_back(ctx.dist->all_reduce_sum(counts, "dynamic sampling's group counts"));
      for (double c : kept_per_round.back()) have += static_cast<int64_t>(c);
    } else {
      have += kept_here;
    }
    drawn += want;
    adv_parts.push_back(a.advantages);
    zero_parts.push_back(a.zero_variance);
    out.prompts.insert(out.prompts.end(), std::make_move_iterator(drawn_here.begin()),
                       std::make_move_iterator(drawn_here.end()));
    out.completions.insert(out.completions.end(), std::make_move_iterator(r.completions.begin()),
                           std::make_move_iterator(r.completions.end()));
    out.scores.insert(out.scores.end(), std::make_move_iterator(r.scores.begin()),
                      std::make_move_iterator(r.scores.end()));
    ++out.rounds;
    if (!ctx.cfg.dynamic_sampling || have >= B || out.rounds >= ctx.cfg.max_draw_rounds) break;
    // Draw for the missing groups at the keep rate seen so far (at least the number missing, at most 4 B).
    const double rate = std::max(0.05, static_cast<double>(have) / static_cast<double>(drawn));
    want = std::clamp<int64_t>(static_cast<int64_t>(std::ceil((B - have) / rate)), B - have, 4 * B);
  }
  if (over_ranks) {
    keep_first_b_across_ranks(out, kept_per_round, round_begin, ctx.rank, B);
  } else if (ctx.cfg.dynamic_sampling && static_cast<int64_t>(out.groups.size()) > B) {
    out.groups.resize(static_cast<size_t>(B));
  }
  out.adv.advantages = at::cat(adv_parts, 0);
  out.adv.zero_variance = at::cat(zero_parts, 0);
  out.adv.n_zero_variance = out.adv.zero_variance.sum().item<int64_t>();
  return out;
}

}  // namespace

GrpoStepResult grpo_step(GrpoContext& ctx, int64_t step) {
  auto t0 = std::chrono::steady_clock::now();
  StageTimer timer;
  Rollouts ro = collect_rollouts(ctx, step, timer);
  TrainBatch batch = timer.time("pack", [&] { return build_batch(ctx, ro.prompts, ro.completions, ro.adv, ro.groups); });
  const bool has_rows = batch.tokens.size(0) > 0;
  UpdateStats update;
  double logprob_diff = 0;
  if (ctx.learner.global_rows(batch) > 0) {
    if (ctx.learner.config().loss.is_correction != "none" && has_rows) {
      // The ratio's reference becomes the learner's own scores before the update; the rollout's log-probs enter as
      // importance weights (the engine and the learner compute differently: kernels, dtype, batch shapes).
      batch.rollout_logprobs = batch.old_logprobs;
      batch.old_logprobs = timer.time("old_logprobs", [&] { return ctx.learner.score(batch); });
      logprob_diff = ((batch.old_logprobs - batch.rollout_logprobs).abs() * batch.loss_mask).sum().item<double>() /
                     std::max(1.0, batch.loss_mask.sum().item<double>());
    }
    if (ctx.reference && ctx.learner.config().loss.kl_placement == "loss" && has_rows) {
      batch.ref_logprobs = timer.time("reference", [&] {
        return score_tokens(ctx.reference, batch, batch.temperature, ctx.micro_batch_tokens, ctx.learner.compute_dtype());
      });
    }
    for (int64_t pass = 0; pass < ctx.cfg.mu; ++pass) {
      ctx.learner.set_step(step);  // every pass of a step at the step's learning rate
      update = timer.time("update", [&] { return ctx.learner.grpo_update(batch); });
    }
    if (ctx.cfg.router_bias_rate > 0 && !update.skipped && !update.expert_load.empty()) {
      ctx.learner.update_router_bias(update.expert_load, ctx.cfg.router_bias_rate);
    }
  } else {
    update.lr = ctx.learner.lr_at(ctx.learner.step());
    update.skipped = true;  // every group had equal rewards: nothing to learn from this batch
  }
  timer.time("sync", [&] { ctx.engine.sync_weights(step + 1); });

  GrpoStepResult out;
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  out.metrics = summarize(step, ro.completions, ro.scores, ro.adv, ro.gen, update, timer, seconds);
  out.metrics["draw_rounds"] = ro.rounds;
  out.metrics["prompts_drawn"] = static_cast<int64_t>(ro.prompts.size());
  out.metrics["groups_trained"] = static_cast<int64_t>(ro.groups.size());
  out.metrics["data_cursor"] = ctx.data_cursor;
  int64_t staleness = 0;  // updates between the weights that generated a completion and the step training on it
  for (const auto& c : ro.completions) staleness = std::max(staleness, step - c.policy_version);
  out.metrics["staleness"] = staleness;
  if (!update.skip_reason.empty()) {
    out.metrics["skip_reason"] = update.skip_reason;
    std::vector<int64_t> ids;
    for (int64_t g : ro.groups) ids.push_back(ro.prompts[static_cast<size_t>(g)].id);
    out.metrics["skipped_prompt_ids"] = ids;  // the batch's prompts, to find what set it off
  }
  if (ctx.learner.config().loss.is_correction != "none") out.metrics["logprob_diff"] = logprob_diff;
  if (!update.expert_imbalance.empty()) {
    out.metrics["expert_imbalance"] = update.expert_imbalance;  // per MoE layer: max load / mean load
    double worst = 0;
    for (double x : update.expert_imbalance) worst = std::max(worst, x);
    out.metrics["expert_imbalance_max"] = worst;
  }
  if (ctx.cfg.routing_replay) out.metrics["routing_mismatch"] = update.routing_mismatch;
  if (ro.kl_reward_n > 0) out.metrics["kl_reward"] = ro.kl_reward_sum / static_cast<double>(ro.kl_reward_n);  // mean per sequence
  out.samples = sample_records(ctx, step, ro.prompts, ro.completions, ro.scores, ro.adv.advantages);
  return out;
}

}  // namespace grpo::rl
