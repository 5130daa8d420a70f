// Task name -> checker: the explicit table of verifiers the pool and the `grpo reward` command use.
// An explicit table on purpose (STYLE.md 6): no self-registering statics. Not the scoring pool (pool.h).
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "rewards/score.h"

namespace grpo::rewards {

// Scores one completion given the prompt's meta. Expected failures are Scores; a throw is a bug.
using Checker = std::function<Score(std::string_view completion, const Meta& meta)>;

// The checker for `task` (e.g. "countdown"), with default configs. Throws grpo::Error naming the task
// and listing the known ones when the task is unknown.
Checker find_checker(const std::string& task);

// Every task name find_checker accepts, in table order.
std::vector<std::string> known_tasks();

}  // namespace grpo::rewards
