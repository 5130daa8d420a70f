// Greedy accuracy and pass@k on held-out prompts; see evaluate.h.
#include "rl/evaluate.h"

#include <chrono>

namespace grpo::rl {

namespace {

std::vector<rewards::Score> score_all(rewards::ScorePool& pool, const std::string& task,
                                      const std::vector<rollout::Prompt>& prompts,
                                      const std::vector<rollout::Completion>& completions, int64_t per_prompt) {
  std::vector<rewards::ScoreRequest> req;
  req.reserve(completions.size());
  for (size_t i = 0; i < completions.size(); ++i) {
    req.push_back({task, completions[i].text, prompts[i / static_cast<size_t>(per_prompt)].meta});
  }
  return pool.score(req);
}

bool parsed(const rewards::Score& s) {
  return s.verdict == rewards::Verdict::ok || s.verdict == rewards::Verdict::wrong;
}

}  // namespace

EvalResult evaluate(rollout::RolloutEngine& engine, rewards::ScorePool& pool, const std::string& task,
                    const std::vector<rollout::Prompt>& prompts, int64_t max_new_tokens, const EvalConfig& cfg,
                    uint64_t seed) {
  auto t0 = std::chrono::steady_clock::now();
  EvalResult r;
  r.n = static_cast<int64_t>(prompts.size());
  rollout::SamplingConfig greedy;
  greedy.temperature = 0.0;
  greedy.max_new_tokens = max_new_tokens;
  auto completions = engine.generate(prompts, 1, greedy);
  auto scores = score_all(pool, task, prompts, completions, 1);
  for (size_t i = 0; i < scores.size(); ++i) {
    r.accuracy += scores[i].verdict == rewards::Verdict::ok;
    r.format_rate += parsed(scores[i]);
    r.mean_length += static_cast<double>(completions[i].token_ids.size());
  }
  const double n = std::max<int64_t>(1, r.n);
  r.accuracy /= n;
  r.format_rate /= n;
  r.mean_length /= n;
  if (cfg.pass_k > 0) {
    rollout::SamplingConfig sample;
    sample.temperature = cfg.pass_temperature;
    sample.max_new_tokens = max_new_tokens;
    sample.seed = seed;
    auto many = engine.generate(prompts, cfg.pass_k, sample);
    auto many_scores = score_all(pool, task, prompts, many, cfg.pass_k);
    r.k = cfg.pass_k;
    for (size_t p = 0; p < prompts.size(); ++p) {
      bool any = false;
      for (int64_t j = 0; j < cfg.pass_k; ++j) {
        any = any || many_scores[p * static_cast<size_t>(cfg.pass_k) + static_cast<size_t>(j)].verdict ==
                         rewards::Verdict::ok;
      }
      r.pass_at_k += any;
    }
    r.pass_at_k /= n;
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace grpo::rl
