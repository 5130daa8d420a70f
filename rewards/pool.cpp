// ScorePool: resolve each distinct task to a checker once, then parallel_for over the requests inside a
// tbb::task_arena of n_threads. Every exception is caught per request and turned into a Score.
#include "rewards/pool.h"

#include <chrono>
#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>

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

// A counting semaphore (C++17 has none).
class Slots {
 public:
  explicit Slots(int n) : free_(n) {}
  void acquire() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return free_ > 0; });
    --free_;
  }
  void release() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++free_;
    }
    cv_.notify_one();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int free_;
};

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

  std::map<std::string, std::unique_ptr<Slots>> limits;
  for (const auto& [task, n] : cfg_.max_running) {
    GRPO_CHECK(n >= 1, "PoolConfig::max_running[\"", task, "\"] is ", n, "; set it to 1 or more");
    limits.emplace(task, std::make_unique<Slots>(n));
  }
  auto run_limited = [&](const Checker& checker, const ScoreRequest& req) {
    auto lim = limits.find(req.task);
    if (lim != limits.end()) lim->second->acquire();
    const auto t0 = std::chrono::steady_clock::now();
    Score s = run_checker(checker, req);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (lim != limits.end()) lim->second->release();
    if (cfg_.deadline_seconds > 0 && secs > cfg_.deadline_seconds && s.verdict != Verdict::timeout) {
      s = error_score(Verdict::timeout, "the check took " + std::to_string(secs) + " s, past its deadline of " +
                                            std::to_string(cfg_.deadline_seconds) + " s");
    }
    return s;
  };

  std::vector<Score> results(requests.size());
  arena_->arena.execute([&] {
    tbb::parallel_for(tbb::blocked_range<size_t>(0, requests.size()), [&](const tbb::blocked_range<size_t>& r) {
      for (size_t i = r.begin(); i != r.end(); ++i) {
        const ScoreRequest& req = requests[i];
        auto it = resolved.find(req.task);
        if (it == resolved.end()) {
          results[i] = error_score(Verdict::invalid_input, unknown.at(req.task));
        } else {
          results[i] = run_limited(it->second, req);
        }
      }
    });
  });
  return results;
}

}  // namespace grpo::rewards
