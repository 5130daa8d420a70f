// Countdown problems, split, prompts and SFT targets; see countdown_task.h.
#include "rl/countdown_task.h"

#include <algorithm>
#include <cstdio>

#include "kernels/check.h"
#include "kernels/hash.h"
#include "policy/tokenizer/chat_template.h"
#include "rewards/countdown.h"
#include "rl/countdown_solver.h"

namespace grpo::rl {

void CountdownTaskConfig::validate() const {
  GRPO_CHECK(n_numbers >= 2 && n_numbers <= 6, "task.n_numbers must be in [2, 6], got ", n_numbers);
  GRPO_CHECK(min_number >= 0 && min_number <= max_number && max_number <= 999,
             "task.min_number/max_number must satisfy 0 <= min <= max <= 999, got ", min_number, "..", max_number);
  GRPO_CHECK(min_target <= max_target && max_target <= 99999 && min_target >= 0,
             "task.min_target/max_target must satisfy 0 <= min <= max <= 99999");
  GRPO_CHECK(heldout_fraction > 0 && heldout_fraction < 1, "task.heldout_fraction must be in (0, 1), got ",
             heldout_fraction);
  GRPO_CHECK(eval_size > 0, "task.eval_size must be > 0, got ", eval_size);
  policy::parse_chat_template(chat_template);  // throws naming the valid templates
}

namespace {

int digits(int64_t v) { return static_cast<int>(std::to_string(v).size()); }

// Calls f(multiset) for every sorted multiset of n numbers in [lo, hi].
template <typename F>
void for_each_multiset(int64_t n, int64_t lo, int64_t hi, F&& f) {
  std::vector<int64_t> cur(static_cast<size_t>(n), lo);
  while (true) {
    f(cur);
    int64_t i = n - 1;
    while (i >= 0 && cur[static_cast<size_t>(i)] == hi) --i;
    if (i < 0) return;
    int64_t v = cur[static_cast<size_t>(i)] + 1;
    for (int64_t j = i; j < n; ++j) cur[static_cast<size_t>(j)] = v;
  }
}

}  // namespace

uint64_t countdown_hash(const CountdownProblem& p) {
  uint64_t h = mix64(0x636f756e74646f77ull);  // "countdow"
  for (int64_t v : p.numbers) h = mix64(h ^ static_cast<uint64_t>(v));
  return mix64(h ^ (static_cast<uint64_t>(p.target) + 0x100000000ull));
}

CountdownData build_countdown_data(const CountdownTaskConfig& cfg) {
  cfg.validate();
  // C(range + n - 1, n) multisets; refuse sizes that would take minutes to enumerate.
  double count = 1;
  const int64_t range = cfg.max_number - cfg.min_number + 1;
  for (int64_t k = 1; k <= cfg.n_numbers; ++k) count = count * static_cast<double>(range + k - 1) / static_cast<double>(k);
  GRPO_CHECK(count <= 2e5, "task: ", static_cast<int64_t>(count), " number multisets are too many to enumerate; "
             "hint: lower task.max_number or task.n_numbers");
  std::vector<std::pair<uint64_t, CountdownProblem>> heldout;
  CountdownData data;
  const uint64_t cut = static_cast<uint64_t>(cfg.heldout_fraction * 18446744073709551615.0);
  for_each_multiset(cfg.n_numbers, cfg.min_number, cfg.max_number, [&](const std::vector<int64_t>& nums) {
    for (int64_t t : reachable_targets(nums, cfg.min_target, cfg.max_target)) {
      CountdownProblem p{nums, t};
      uint64_t h = countdown_hash(p);
      if (h < cut) {
        heldout.emplace_back(h, std::move(p));
      } else {
        data.train.push_back(std::move(p));
      }
    }
  });
  std::sort(heldout.begin(), heldout.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [h, p] : heldout) data.heldout.push_back(std::move(p));
  GRPO_CHECK(!data.train.empty() && !data.heldout.empty(), "task: no reachable problems in the configured ranges");
  return data;
}

std::string countdown_prompt_text(const std::vector<int64_t>& shown, int64_t target, const CountdownTaskConfig& cfg) {
  const int wn = digits(cfg.max_number), wt = digits(cfg.max_target);
  std::string s;
  char buf[32];
  for (size_t i = 0; i < shown.size(); ++i) {
    std::snprintf(buf, sizeof(buf), "%0*lld", wn, static_cast<long long>(shown[i]));
    if (i > 0) s += ',';
    s += buf;
  }
  std::snprintf(buf, sizeof(buf), "=%0*lld:", wt, static_cast<long long>(target));
  return s + buf;
}

rollout::Prompt make_countdown_prompt(const CountdownProblem& p, int64_t id, std::mt19937_64& rng,
                                      const policy::Tokenizer& tok, const CountdownTaskConfig& cfg) {
  std::vector<int64_t> shown = p.numbers;
  std::shuffle(shown.begin(), shown.end(), rng);
  rollout::Prompt out;
  out.id = id;
  // NOTE: "plain" renders the user text unchanged, so the tiny recipe's prompts are exactly the task text.
  out.text = policy::render_chat(policy::parse_chat_template(cfg.chat_template),
                                 {{"user", countdown_prompt_text(shown, p.target, cfg)}});
  out.token_ids = tok.encode(out.text);
  out.meta = {{"numbers", rewards::format_countdown_numbers(p.numbers)}, {"target", std::to_string(p.target)}};
  return out;
}

std::vector<rollout::Prompt> countdown_eval_prompts(const CountdownData& data, const policy::Tokenizer& tok,
                                                    const CountdownTaskConfig& cfg, int64_t n) {
  GRPO_CHECK(n <= static_cast<int64_t>(data.heldout.size()), "the held-out set has ", data.heldout.size(),
             " problems, fewer than the ", n, " asked for; hint: raise task.heldout_fraction or lower task.eval_size");
  std::vector<rollout::Prompt> out;
  for (int64_t i = 0; i < n; ++i) {
    const CountdownProblem& p = data.heldout[static_cast<size_t>(i)];
    std::mt19937_64 rng(countdown_hash(p));
    out.push_back(make_countdown_prompt(p, i, rng, tok, cfg));
  }
  return out;
}

CountdownSampler::CountdownSampler(const std::vector<CountdownProblem>& train, uint64_t seed)
    : train_(train), seed_(seed) {
  GRPO_CHECK(!train_.empty(), "CountdownSampler: empty training set");
}

const CountdownProblem& CountdownSampler::problem(int64_t draw) {
  GRPO_CHECK(draw >= 0, "CountdownSampler: negative draw ", draw);
  const int64_t n = static_cast<int64_t>(train_.size());
  const int64_t epoch = draw / n;
  if (epoch != epoch_) {
    order_.resize(train_.size());
    for (size_t i = 0; i < order_.size(); ++i) order_[i] = i;
    std::mt19937_64 rng(mix64(seed_ ^ mix64(static_cast<uint64_t>(epoch))));
    std::shuffle(order_.begin(), order_.end(), rng);
    epoch_ = epoch;
  }
  return train_[order_[static_cast<size_t>(draw % n)]];
}

rollout::Prompt CountdownSampler::prompt(int64_t draw, const policy::Tokenizer& tok, const CountdownTaskConfig& cfg) {
  std::mt19937_64 rng(mix64(seed_ + 0x5eed) ^ mix64(static_cast<uint64_t>(draw)));
  return make_countdown_prompt(problem(draw), draw, rng, tok, cfg);
}

std::string countdown_sft_completion(const CountdownProblem& p, std::mt19937_64& rng, const CountdownTaskConfig& cfg) {
  std::vector<CountdownSolution> sols = solve_countdown(p.numbers, p.target, 64);
  GRPO_CHECK(!sols.empty(), "no solution for a problem of the task set (", rewards::format_countdown_numbers(p.numbers),
             " -> ", p.target, ")");
  if (cfg.integer_trace) {
    std::vector<CountdownSolution> integer;
    for (auto& s : sols) {
      if (s.integer_steps) integer.push_back(s);
    }
    if (!integer.empty()) sols.swap(integer);
  }
  const CountdownSolution& s = sols[std::uniform_int_distribution<size_t>(0, sols.size() - 1)(rng)];
  std::string out;
  if (cfg.trace) out += "<think>" + s.trace + "</think>";
  return out + "<answer>" + s.equation + "</answer>";
}

}  // namespace grpo::rl
