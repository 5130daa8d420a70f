// ScorePool: scores a batch of completions in parallel on a oneTBB arena and returns one Score per
// request, in input order. Nothing escapes: unknown tasks and throwing checkers become Scores.
// Per-task concurrency limits (code checks each start processes; a limit keeps them from crowding out the
// rest) and per-item deadlines. NOTE: a deadline cannot interrupt a C++ function; every checker bounds its
// own time (math: EquivalenceConfig::timeout_seconds; code: the sandbox's wall-clock kill; countdown: bounded
// input), and a check that still returns past its deadline is scored timeout.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "rewards/registry.h"
#include "rewards/score.h"

namespace grpo::rewards {

struct ScoreRequest {
  std::string task;        // registry name, e.g. "countdown"
  std::string completion;  // the generated text
  Meta meta;               // what the checker needs from the prompt
};

struct PoolConfig {
  int n_threads = 2;                       // oneTBB arena size (threads scoring at once), >= 1
  std::map<std::string, int> max_running;  // task -> most checks of that task at once (absent: n_threads)
  double deadline_seconds = 0;             // per item; past it the Score becomes timeout (0: none)
};

class ScorePool {
 public:
  explicit ScorePool(PoolConfig cfg = {});
  ~ScorePool();
  ScorePool(const ScorePool&) = delete;
  ScorePool& operator=(const ScorePool&) = delete;

  // Makes `task` resolve to `checker` in this pool, ahead of the registry (tests, custom verifiers).
  // REQUIRES: not called while score() runs.
  void add_checker(const std::string& task, Checker checker);

  // One Score per request, results[i] for requests[i]. An unknown task gives Verdict::invalid_input;
  // an exception thrown by a checker gives Verdict::internal_error; both with value 0 and
  // detail = the exception's what().
  std::vector<Score> score(const std::vector<ScoreRequest>& requests);

  const PoolConfig& config() const { return cfg_; }

 private:
  struct Arena;  // wraps the tbb::task_arena, so this header does not pull in oneTBB
  PoolConfig cfg_;
  std::unique_ptr<Arena> arena_;
  std::map<std::string, Checker> checkers_;  // added with add_checker
};

}  // namespace grpo::rewards
