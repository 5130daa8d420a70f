// The GRPO step; see grpo_step.h. The function grpo_step is the paragraph; helpers below it do the packing.
#include "rl/grpo_step.h"

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
      times_[name] = elapsed(t0);
    } else {
      auto r = f();
      times_[name] = elapsed(t0);
      return r;
    }
  }
  double operator[](const char* name) const { return times_.value(name, 0.0); }
  const nlohmann::json& all() const { return times_; }

 private:
  static double elapsed(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  nlohmann::json times_ = nlohmann::json::object();
};

std::vector<rollout::Prompt> draw_prompts(GrpoContext& ctx, int64_t step) {
  std::vector<rollout::Prompt> prompts;
  const int64_t B = ctx.cfg.prompts_per_step;
  for (int64_t i = 0; i < B; ++i) prompts.push_back(ctx.stream.prompt(step * B + i));
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

// The sequences that carry signal, packed for the learner; nullopt-like empty batch when none does.
TrainBatch build_batch(GrpoContext& ctx, const std::vector<rollout::Prompt>& prompts,
                       const std::vector<rollout::Completion>& completions, const AdvantageResult& adv) {
  const int64_t G = ctx.cfg.group_size;
  const float* a = adv.advantages.data_ptr<float>();
  const bool* zero = adv.zero_variance.data_ptr<bool>();
  std::vector<SequenceParts> parts;
  for (size_t i = 0; i < completions.size(); ++i) {
    const size_t group = i / static_cast<size_t>(G);
    if (ctx.cfg.drop_zero_variance && zero[group]) continue;
    parts.push_back({&prompts[group].token_ids, &completions[i].token_ids, &completions[i].logprobs, a[i]});
  }
  if (parts.empty()) return {};
  TrainBatch b = pack_sequences(parts, ctx.tokenizer.pad_id(), ctx.device);
  b.temperature = completions.front().logprob_temperature;
  for (const auto& c : completions) {
    GRPO_CHECK(c.logprob_temperature == b.temperature, "a batch mixes log-probs taken at temperatures ",
               b.temperature, " and ", c.logprob_temperature);
  }
  return b;
}

nlohmann::json summarize(GrpoContext& ctx, int64_t step, const std::vector<rollout::Completion>& completions,
                         const std::vector<rewards::Score>& scores, const AdvantageResult& adv,
                         const UpdateStats& up, const StageTimer& timer, double step_seconds) {
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
  const auto& gen = ctx.engine.last_stats();
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

GrpoStepResult grpo_step(GrpoContext& ctx, int64_t step) {
  auto t0 = std::chrono::steady_clock::now();
  const int64_t B = ctx.cfg.prompts_per_step, G = ctx.cfg.group_size;
  StageTimer timer;
  auto prompts = timer.time("prompts", [&] { return draw_prompts(ctx, step); });
  std::vector<rollout::Completion> completions;
  std::vector<rewards::Score> scores;
  if (ctx.cfg.stream_scoring) {
    // "score" is then only the wait for the checks still running when the last completion finished.
    StreamingScorer scorer(ctx.pool, ctx.reward, prompts, G, ctx.sampling.max_new_tokens);
    completions = timer.time("generate", [&] {
      return ctx.engine.generate(prompts, G, ctx.sampling,
                                 [&](size_t i, const rollout::Completion& c) { scorer.submit(i, c); });
    });
    scores = timer.time("score", [&] { return scorer.finish(); });
  } else {
    completions = timer.time("generate", [&] { return ctx.engine.generate(prompts, G, ctx.sampling); });
    scores = timer.time("score", [&] {
      return score_completions(ctx.pool, ctx.reward, prompts, completions, G, ctx.sampling.max_new_tokens);
    });
  }
  auto adv = timer.time("advantages", [&] {
    AdvantageResult a = compute_group_advantages(reward_matrix(scores, B, G), ctx.cfg.advantage);
    if (ctx.cfg.signal == "verifier") mark_verifier_ties(a, correct_matrix(scores, B, G));
    return a;
  });
  TrainBatch batch = timer.time("pack", [&] { return build_batch(ctx, prompts, completions, adv); });
  UpdateStats update;
  if (batch.tokens.defined()) {
    if (ctx.reference) {
      batch.ref_logprobs = timer.time("reference", [&] {
        return score_tokens(ctx.reference, batch, batch.temperature, ctx.micro_batch_tokens, ctx.learner.compute_dtype());
      });
    }
    update = timer.time("update", [&] { return ctx.learner.grpo_update(batch); });
  } else {
    update.lr = ctx.learner.lr_at(ctx.learner.step());
    update.skipped = true;  // every group had equal rewards: nothing to learn from this batch
  }
  timer.time("sync", [&] { ctx.engine.sync_weights(step + 1); });

  GrpoStepResult out;
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  out.metrics = summarize(ctx, step, completions, scores, adv, update, timer, seconds);
  out.samples = sample_records(ctx, step, prompts, completions, scores, adv.advantages);
  return out;
}

}  // namespace grpo::rl
