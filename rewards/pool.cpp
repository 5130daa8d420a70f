// ScorePool: resolve each distinct task to a checker once, then parallel_for over the requests inside a
// tbb::task_arena of n_threads. Every exception is caught per request and turned into a Score.
#include "rewards/pool.h"

#include <exception>

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include "kernels/check.h"

namespace grpo::rewards {
namespace {

Score error_score(Verdict verdict, std::string detail) {
  Score s;
  s.value = 0.0;
  s.verdict = verdict;
  s.detail = std::move(detail);
  return s;
}

// Runs one checker; nothing escapes.
Score run_checker(const Checker& checker, const ScoreRequest& req) {
  try {
    return checker(req.completion, req.meta);
  } catch (const std::exception& e) {
    return error_score(Verdict::internal_error, e.what());
  } catch (...) {
    return error_score(Verdict::internal_error, "checker for task \"" + req.task + "\" threw a non-std exception");
  }
}

}  // namespace

struct ScorePool::Arena {
  explicit Arena(int n) : arena(n) {}
  tbb::task_arena arena;
};

ScorePool::ScorePool(PoolConfig cfg) : cfg_(cfg) {
  GRPO_CHECK(cfg_.n_threads >= 1, "PoolConfig::n_threads is ", cfg_.n_threads, "; set it to 1 or more");
  arena_ = std::make_unique<Arena>(cfg_.n_threads);
}

ScorePool::~ScorePool() = default;

void ScorePool::add_checker(const std::string& task, Checker checker) {
  GRPO_CHECK(static_cast<bool>(checker), "ScorePool::add_checker: empty checker for task \"", task, "\"");
  checkers_[task] = std::move(checker);
}

std::vector<Score> ScorePool::score(const std::vector<ScoreRequest>& requests) {
  // Resolve every distinct task once, before going parallel: the lookup table is then read-only.
  // NOTE: a failed lookup is remembered as its error text, so each request of an unknown task gets a
  // Score with invalid_input instead of the whole batch throwing.
  std::map<std::string, Checker> resolved;
  std::map<std::string, std::string> unknown;
  for (const auto& req : requests) {
    if (resolved.count(req.task) || unknown.count(req.task)) continue;
    auto own = checkers_.find(req.task);
    if (own != checkers_.end()) {
      resolved.emplace(req.task, own->second);
      continue;
    }
    try {
      resolved.emplace(req.task, find_checker(req.task));
    } catch (const std::exception& e) {
      unknown.emplace(req.task, e.what());
    }
  }

  std::vector<Score> results(requests.size());
  arena_->arena.execute([&] {
    tbb::parallel_for(tbb::blocked_range<size_t>(0, requests.size()), [&](const tbb::blocked_range<size_t>& r) {
      for (size_t i = r.begin(); i != r.end(); ++i) {
        const ScoreRequest& req = requests[i];
        auto it = resolved.find(req.task);
        if (it == resolved.end()) {
          results[i] = error_score(Verdict::invalid_input, unknown.at(req.task));
        } else {
          results[i] = run_checker(it->second, req);
        }
      }
    });
  });
  return results;
}

}  // namespace grpo::rewards
