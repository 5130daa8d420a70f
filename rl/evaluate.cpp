// Greedy accuracy, avg@k, maj@k and pass@k on held-out prompts; see evaluate.h.
#include "rl/evaluate.h"

#include <chrono>
#include <cmath>
#include <map>
#include <random>

#include "kernels/check.h"
#include "rl/grpo_step.h"

namespace grpo::rl {

void EvalConfig::validate() const {
  GRPO_CHECK(every >= 0, "eval.every must be >= 0 (0 = only at the end), got ", every);
  GRPO_CHECK(samples >= 0, "eval.samples must be >= 0 (0 = greedy only), got ", samples);
  GRPO_CHECK(temperature > 0, "eval.temperature must be > 0 (greedy accuracy is always reported), got ", temperature);
  GRPO_CHECK(top_p > 0 && top_p <= 1, "eval.top_p must be in (0, 1], got ", top_p);
  GRPO_CHECK(bootstrap >= 0, "eval.bootstrap must be >= 0, got ", bootstrap);
}

nlohmann::json EvalResult::to_json() const {
  nlohmann::json j = {{"set", name},       {"n", n}, {"accuracy", accuracy}, {"format_rate", format_rate},
                      {"mean_length", mean_length}, {"seconds", seconds}};
  if (k > 0) {
    j["k"] = k;
    j["avg_at_k"] = avg_at_k;
    j["avg_at_k_se"] = avg_at_k_se;
    j["maj_at_k"] = maj_at_k >= 0 ? nlohmann::json(maj_at_k) : nlohmann::json(nullptr);
    j["pass_at_k"] = pass_at_k;
    for (const auto& [kk, v] : pass_curve) j["pass_at_" + std::to_string(kk)] = v;
  }
  return j;
}

double pass_at_k(int64_t n, int64_t c, int64_t k) {
  GRPO_CHECK(0 <= c && c <= n && 1 <= k && k <= n, "pass_at_k: need 0 <= c <= n and 1 <= k <= n, got n=", n, " c=",
             c, " k=", k);
  if (n - c < k) return 1.0;
  // 1 - prod_{i = n-c+1}^{n} (1 - k / i): C(n-c, k) / C(n, k) without large binomials.
  double keep = 1.0;
  for (int64_t i = n - c + 1; i <= n; ++i) keep *= 1.0 - static_cast<double>(k) / static_cast<double>(i);
  return 1.0 - keep;
}

double bootstrap_se(const std::vector<double>& values, int64_t resamples, uint64_t seed) {
  if (values.size() < 2 || resamples < 2) return 0.0;
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<size_t> pick(0, values.size() - 1);
  double sum = 0, sq = 0;
  for (int64_t r = 0; r < resamples; ++r) {
    double mean = 0;
    for (size_t i = 0; i < values.size(); ++i) mean += values[pick(rng)];
    mean /= static_cast<double>(values.size());
    sum += mean;
    sq += mean * mean;
  }
  const double m = sum / static_cast<double>(resamples);
  return std::sqrt(std::max(0.0, (sq / static_cast<double>(resamples) - m * m) * resamples / (resamples - 1.0)));
}

bool majority_correct(const std::vector<std::string>& answers, const std::vector<bool>& correct) {
  GRPO_CHECK(answers.size() == correct.size(), "majority_correct: ", answers.size(), " answers, ", correct.size(),
             " verdicts");
  std::map<std::string, std::pair<int64_t, size_t>> votes;  // answer -> (count, first index)
  for (size_t i = 0; i < answers.size(); ++i) {
    if (answers[i].empty()) continue;
    auto [it, fresh] = votes.try_emplace(answers[i], 0, i);
    ++it->second.first;
  }
  if (votes.empty()) return false;
  auto best = votes.begin();
  for (auto it = votes.begin(); it != votes.end(); ++it) {
    if (it->second.first > best->second.first ||
        (it->second.first == best->second.first && it->second.second < best->second.second))
      best = it;
  }
  return correct[best->second.second];
}

namespace {

// Generates and scores `prompts` in chunks (so progress can be shown), n_samples each.
std::pair<std::vector<rollout::Completion>, std::vector<rewards::Score>> run_chunks(
    rollout::RolloutEngine& engine, rewards::ScorePool& pool, const rewards::RewardMixConfig& reward,
    const std::vector<rollout::Prompt>& prompts, int64_t n_samples, const rollout::SamplingConfig& sampling,
    const std::function<void(int64_t)>& done) {
  std::vector<rollout::Completion> completions;
  std::vector<rewards::Score> scores;
  const size_t chunk = std::max<size_t>(16, static_cast<size_t>(engine.max_batch() / std::max<int64_t>(1, n_samples)));
  for (size_t begin = 0; begin < prompts.size(); begin += chunk) {
    const size_t end = std::min(prompts.size(), begin + chunk);
    std::vector<rollout::Prompt> part(prompts.begin() + static_cast<long>(begin), prompts.begin() + static_cast<long>(end));
    auto c = engine.generate(part, n_samples, sampling);
    auto s = score_completions(pool, reward, part, c, n_samples, sampling.max_new_tokens);
    for (auto& x : c) completions.push_back(std::move(x));
    for (auto& x : s) scores.push_back(std::move(x));
    if (done) done(static_cast<int64_t>(end));
  }
  return {std::move(completions), std::move(scores)};
}

nlohmann::json completion_record(const std::string& set, const rollout::Prompt& p, int64_t sample,
                                 const rollout::Completion& c, const rewards::Score& s) {
  return {{"set", set},
          {"index", p.id},
          {"sample", sample},
          {"prompt", p.text},
          {"completion", c.text},
          {"finish_reason", rollout::finish_reason_name(c.finish_reason)},
          {"tokens", c.token_ids.size()},
          {"reward", s.value},
          {"components", s.components},
          {"verdict", rewards::verdict_name(s.verdict)},
          {"answer", s.answer},
          {"detail", s.detail}};
}

}  // namespace

EvalResult evaluate(rollout::RolloutEngine& engine, rewards::ScorePool& pool, const rewards::RewardMixConfig& reward,
                    const std::string& name, const std::vector<rollout::Prompt>& prompts, int64_t max_new_tokens,
                    const EvalConfig& cfg, uint64_t seed, const std::function<void(const nlohmann::json&)>& record,
                    const std::function<void(int64_t, int64_t)>& progress) {
  auto t0 = std::chrono::steady_clock::now();
  EvalResult r;
  r.name = name;
  r.n = static_cast<int64_t>(prompts.size());
  const int64_t total = r.n * (1 + cfg.samples);  // progress counts prompt passes: greedy, then sampled
  rollout::SamplingConfig greedy;
  greedy.temperature = 0.0;
  greedy.max_new_tokens = max_new_tokens;
  auto [completions, scores] = run_chunks(engine, pool, reward, prompts, 1, greedy, [&](int64_t done) {
    if (progress) progress(done, total);
  });
  for (size_t i = 0; i < scores.size(); ++i) {
    r.accuracy += scores[i].verdict == rewards::Verdict::ok;
    r.format_rate += scores[i].verdict == rewards::Verdict::ok || scores[i].verdict == rewards::Verdict::wrong;
    r.mean_length += static_cast<double>(completions[i].token_ids.size());
    if (record) record(completion_record(name, prompts[i], -1, completions[i], scores[i]));
  }
  const double n = static_cast<double>(std::max<int64_t>(1, r.n));
  r.accuracy /= n;
  r.format_rate /= n;
  r.mean_length /= n;
  if (cfg.samples > 0) {
    const int64_t k = cfg.samples;
    rollout::SamplingConfig sample;
    sample.temperature = cfg.temperature;
    sample.top_p = cfg.top_p;
    sample.max_new_tokens = max_new_tokens;
    sample.seed = seed;
    auto [many, many_scores] = run_chunks(engine, pool, reward, prompts, k, sample, [&](int64_t done) {
      if (progress) progress(r.n + done * k, total);
    });
    r.k = k;
    std::vector<double> per_prompt;
    bool any_answer = false;
    std::vector<int64_t> curve_k;
    for (int64_t j = 1; j < k; j *= 2) curve_k.push_back(j);
    curve_k.push_back(k);
    std::vector<double> curve(curve_k.size(), 0.0);
    for (size_t p = 0; p < prompts.size(); ++p) {
      int64_t c = 0;
      std::vector<std::string> answers;
      std::vector<bool> correct;
      for (int64_t j = 0; j < k; ++j) {
        const size_t i = p * static_cast<size_t>(k) + static_cast<size_t>(j);
        const bool ok = many_scores[i].verdict == rewards::Verdict::ok;
        c += ok;
        answers.push_back(many_scores[i].answer);
        any_answer = any_answer || !many_scores[i].answer.empty();
        correct.push_back(ok);
        if (record) record(completion_record(name, prompts[p], j, many[i], many_scores[i]));
      }
      per_prompt.push_back(static_cast<double>(c) / static_cast<double>(k));
      r.maj_at_k += majority_correct(answers, correct);
      for (size_t q = 0; q < curve_k.size(); ++q) curve[q] += pass_at_k(k, c, curve_k[q]);
    }
    for (double v : per_prompt) r.avg_at_k += v / n;
    r.avg_at_k_se = bootstrap_se(per_prompt, cfg.bootstrap, seed ^ 0xb007);
    // maj@k needs answers to vote on; a verifier that reads none (code: tests pass or fail) has no maj@k.
    r.maj_at_k = any_answer ? r.maj_at_k / n : -1;
    for (size_t q = 0; q < curve_k.size(); ++q) r.pass_curve.emplace_back(curve_k[q], curve[q] / n);
    r.pass_at_k = r.pass_curve.back().second;
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace grpo::rl
