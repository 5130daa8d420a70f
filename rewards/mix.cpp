// Weighted reward mixtures over the scoring pool; see mix.h.
#include "rewards/mix.h"

#include <algorithm>
#include <cmath>

#include "kernels/check.h"
#include "rewards/format.h"

namespace grpo::rewards {

namespace {

bool is_shaping(const std::string& name) {
  return name == "format" || name == "boxed" || name == kOverlongComponent;
}

}  // namespace

void RewardMixConfig::validate(bool has_external) const {
  GRPO_CHECK(!weights.empty(), "reward.weights is empty; hint: e.g. reward.weights = { math = 1.0, format = 0.1 }");
  const std::vector<std::string> tasks = known_tasks();
  std::string known;
  for (const auto& t : tasks) known += t + ", ";
  known += std::string(kOverlongComponent) + ", " + kExternalComponent;
  for (const auto& [name, w] : weights) {
    const bool ok = std::find(tasks.begin(), tasks.end(), name) != tasks.end() || name == kOverlongComponent ||
                    name == kExternalComponent;
    GRPO_CHECK(ok, "reward.weights: unknown reward '", name, "'; known rewards: ", known);
    GRPO_CHECK(std::isfinite(w), "reward.weights.", name, " must be a finite number, got ", w);
    GRPO_CHECK(name != kExternalComponent || has_external, "reward.weights names \"external\" but "
               "reward.external_command is empty; hint: set it to the program that scores completions");
  }
  GRPO_CHECK(overlong_buffer >= 0, "reward.overlong_buffer must be >= 0, got ", overlong_buffer);
  GRPO_CHECK(weights.count(kOverlongComponent) == 0 || overlong_buffer > 0, "reward.weights has \"overlong\" but "
             "reward.overlong_buffer is 0; hint: DAPO uses a buffer of about a fifth of the token budget");
  if (!verifier.empty()) {
    GRPO_CHECK(weights.count(verifier), "reward.verifier '", verifier, "' is not one of reward.weights' components");
    return;
  }
  int n = 0;
  for (const auto& [name, w] : weights) n += !is_shaping(name);
  GRPO_CHECK(n == 1, "reward.weights has ", n, " verifiers (components other than format, boxed and overlong); hint: set "
             "reward.verifier to the one whose verdict counts as accuracy");
}

std::string RewardMixConfig::resolved_verifier() const {
  if (!verifier.empty()) return verifier;
  for (const auto& [name, w] : weights) {
    if (!is_shaping(name)) return name;
  }
  return weights.begin()->first;
}

std::vector<Score> score_mix(ScorePool& pool, const RewardMixConfig& cfg, const std::vector<MixRequest>& requests) {
  const std::string verifier = cfg.resolved_verifier();
  std::vector<std::string> pooled;  // the components the pool scores, in weights' (sorted) order
  for (const auto& [name, w] : cfg.weights) {
    if (name != kOverlongComponent) pooled.push_back(name);
  }
  std::vector<ScoreRequest> todo;
  todo.reserve(requests.size() * pooled.size());
  for (const MixRequest& r : requests) {
    for (const auto& name : pooled) todo.push_back({name, r.completion, *r.meta});
  }
  const std::vector<Score> parts = pool.score(todo);
  std::vector<Score> out(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    Score& s = out[i];
    s.value = 0;
    for (size_t k = 0; k < pooled.size(); ++k) {
      const Score& part = parts[i * pooled.size() + k];
      s.components[pooled[k]] = part.value;
      s.value += cfg.weights.at(pooled[k]) * part.value;
      if (pooled[k] == verifier) {
        s.verdict = part.verdict;
        s.detail = part.detail;
        s.answer = part.answer;
      }
    }
    if (cfg.weights.count(kOverlongComponent)) {
      const MixRequest& r = requests[i];
      const double pen = overlong_penalty(r.n_tokens, std::max(r.max_tokens, r.n_tokens),
                                          std::min(cfg.overlong_buffer, std::max<int64_t>(r.max_tokens, 0)));
      s.components[kOverlongComponent] = pen;
      s.value += cfg.weights.at(kOverlongComponent) * pen;
      if (verifier == kOverlongComponent) s.verdict = pen == 0 ? Verdict::ok : Verdict::wrong;
    }
  }
  return out;
}

}  // namespace grpo::rewards
