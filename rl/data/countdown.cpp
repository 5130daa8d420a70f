// Countdown problems, split, records and SFT targets; see countdown.h.
#include "rl/data/countdown.h"

#include <algorithm>
#include <cstdio>

#include "kernels/check.h"
#include "kernels/hash.h"
#include "rewards/countdown.h"
#include "rl/data/countdown_solver.h"

namespace grpo::rl::data {

void CountdownConfig::validate() const {
  GRPO_CHECK(n_numbers >= 2 && n_numbers <= 6, "data.countdown.n_numbers must be in [2, 6], got ", n_numbers);
  GRPO_CHECK(min_number >= 0 && min_number <= max_number && max_number <= 999,
             "data.countdown.min_number/max_number must satisfy 0 <= min <= max <= 999, got ", min_number, "..", max_number);
  GRPO_CHECK(min_target <= max_target && max_target <= 99999 && min_target >= 0,
             "data.countdown.min_target/max_target must satisfy 0 <= min <= max <= 99999");
  GRPO_CHECK(heldout_fraction > 0 && heldout_fraction < 1, "data.countdown.heldout_fraction must be in (0, 1), got ",
             heldout_fraction);
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

CountdownData build_countdown_data(const CountdownConfig& cfg) {
  cfg.validate();
  // C(range + n - 1, n) multisets; refuse sizes that would take minutes to enumerate.
  double count = 1;
  const int64_t range = cfg.max_number - cfg.min_number + 1;
  for (int64_t k = 1; k <= cfg.n_numbers; ++k) count = count * static_cast<double>(range + k - 1) / static_cast<double>(k);
  GRPO_CHECK(count <= 2e5, "task: ", static_cast<int64_t>(count), " number multisets are too many to enumerate; "
             "hint: lower data.countdown.max_number or data.countdown.n_numbers");
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

std::string countdown_prompt_text(const std::vector<int64_t>& shown, int64_t target, const CountdownConfig& cfg) {
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

Record countdown_record(const CountdownProblem& p, const std::vector<int64_t>& shown, const CountdownConfig& cfg) {
  Record r;
  r.fields = {{"numbers", shown}, {"target", p.target}, {"compact", countdown_prompt_text(shown, p.target, cfg)}};
  r.origin = "countdown " + rewards::format_countdown_numbers(p.numbers) + " -> " + std::to_string(p.target);
  return r;
}

CountdownProblem countdown_problem(const Record& r) {
  const nlohmann::json* numbers = find_field(r.fields, "numbers");
  const nlohmann::json* target = find_field(r.fields, "target");
  GRPO_CHECK(numbers && numbers->is_array() && !numbers->empty() && target && target->is_number_integer(), r.origin,
             ": a Countdown record needs \"numbers\" (a list of integers) and an integer \"target\"");
  CountdownProblem p;
  for (const auto& v : *numbers) {
    GRPO_CHECK(v.is_number_integer() && v.get<int64_t>() >= 0, r.origin, ": \"numbers\" must hold integers >= 0");
    p.numbers.push_back(v.get<int64_t>());
  }
  std::sort(p.numbers.begin(), p.numbers.end());
  p.target = target->get<int64_t>();
  return p;
}

RecordSource countdown_source(const CountdownConfig& cfg) {
  const CountdownData data = build_countdown_data(cfg);
  RecordSource s;
  for (const CountdownProblem& p : data.train) s.train.push_back(countdown_record(p, p.numbers, cfg));
  EvalRecords heldout{"heldout", {}};
  for (const CountdownProblem& p : data.heldout) {
    std::vector<int64_t> shown = p.numbers;
    std::mt19937_64 rng(countdown_hash(p));
    std::shuffle(shown.begin(), shown.end(), rng);
    heldout.records.push_back(countdown_record(p, shown, cfg));
  }
  s.eval.push_back(std::move(heldout));
  s.redraw = [cfg](const Record& r, uint64_t key) {
    CountdownProblem p = countdown_problem(r);
    std::vector<int64_t> shown = p.numbers;
    std::mt19937_64 rng(key);
    std::shuffle(shown.begin(), shown.end(), rng);
    return countdown_record(p, shown, cfg);
  };
  s.respond = [cfg](const Record& r, std::mt19937_64& rng) {
    return countdown_sft_completion(countdown_problem(r), rng, cfg);
  };
  return s;
}

std::string countdown_sft_completion(const CountdownProblem& p, std::mt19937_64& rng, const CountdownConfig& cfg) {
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

}  // namespace grpo::rl::data
