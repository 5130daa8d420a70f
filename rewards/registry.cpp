// The task table. Adding a verifier means adding one row here (and its files beside this one).
// Checkers use their default configs; per-run reward weights belong to the recipe, not here.
#include "rewards/registry.h"

#include "kernels/check.h"
#include "rewards/code/code_reward.h"
#include "rewards/countdown.h"
#include "rewards/format.h"
#include "rewards/math/math_reward.h"

namespace grpo::rewards {
namespace {

struct TaskEntry {
  const char* name;  // the task name used in prompt sets and recipes
  Score (*score)(std::string_view completion, const Meta& meta);
};

Score score_countdown_default(std::string_view completion, const Meta& meta) {
  return score_countdown_meta(completion, meta);
}

Score score_format_default(std::string_view completion, const Meta&) { return score_format(completion); }

Score score_boxed_default(std::string_view completion, const Meta&) {
  FormatConfig cfg;
  cfg.require_think = false;
  Score s = score_format(completion, cfg);
  s.components = {{"boxed", s.value}};
  return s;
}

// meta: "answer" (the gold answer, LaTeX or plain).
Score score_math_default(std::string_view completion, const Meta& meta) {
  auto it = meta.find("answer");
  if (it == meta.end()) {
    Score s;
    s.verdict = Verdict::invalid_input;
    s.detail = "math: the prompt's meta has no \"answer\"";
    return s;
  }
  return math::score_math(completion, it->second);
}

// NOTE: a plain constant array, initialised at compile time: no static-initialisation order issues.
constexpr TaskEntry kTasks[] = {
    {"countdown", &score_countdown_default},
    {"math", &score_math_default},
    {"format", &score_format_default},  // shape only: <think>…</think> then one answer
    {"boxed", &score_boxed_default},    // shape only: one \boxed{} (or <answer>) answer, no think block
    {"code", &code::score_code_meta},  // meta: "tests" (+ "entry_point") or "cases" (JSON)
};

}  // namespace

Checker find_checker(const std::string& task) {
  for (const auto& entry : kTasks) {
    if (task == entry.name) return Checker(entry.score);
  }
  std::string known;
  for (const auto& entry : kTasks) {
    if (!known.empty()) known += ", ";
    known += entry.name;
  }
  GRPO_FAIL("unknown reward task \"", task, "\"; known tasks: ", known,
            ". Fix the task name in the prompt set or add a row to rewards/registry.cpp");
}

std::vector<std::string> known_tasks() {
  std::vector<std::string> names;
  for (const auto& entry : kTasks) names.emplace_back(entry.name);
  return names;
}

}  // namespace grpo::rewards
