// Tests for rewards/pool and rewards/registry: input order is kept under parallel scoring, and unknown
// tasks and throwing checkers become Scores instead of exceptions.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "kernels/check.h"
#include "rewards/countdown.h"
#include "rewards/pool.h"
#include "rewards/registry.h"

using grpo::rewards::Meta;
using grpo::rewards::PoolConfig;
using grpo::rewards::Score;
using grpo::rewards::ScorePool;
using grpo::rewards::ScoreRequest;
using grpo::rewards::Verdict;

namespace {
PoolConfig pool_threads(int n) {
  PoolConfig c;
  c.n_threads = n;
  return c;
}
}  // namespace

TEST_CASE("registry: countdown is known, unknown tasks name the known ones", "[cpu]") {
  auto checker = grpo::rewards::find_checker("countdown");
  Score s = checker("<answer>(15+7)*3</answer>", {{"numbers", "3,15,7"}, {"target", "66"}});
  CHECK(s.verdict == Verdict::ok);
  const auto known = grpo::rewards::known_tasks();
  for (const char* task : {"countdown", "math", "code", "format"}) CHECK(std::count(known.begin(), known.end(), task) == 1);
  try {
    grpo::rewards::find_checker("sudoku");
    FAIL("find_checker(\"sudoku\") should throw");
  } catch (const grpo::Error& e) {
    std::string msg = e.what();
    CHECK(msg.find("\"sudoku\"") != std::string::npos);
    CHECK(msg.find("known tasks: countdown") != std::string::npos);
  }
}

TEST_CASE("pool: 1000 requests come back in input order", "[cpu]") {
  // Each request has its own target, so a result in the wrong slot has the wrong detail.
  std::vector<ScoreRequest> requests;
  for (int i = 0; i < 1000; ++i) {
    ScoreRequest r;
    r.task = "countdown";
    r.meta = {{"numbers", std::to_string(i) + ",1"}, {"target", std::to_string(i % 3 == 0 ? i + 1 : i + 2)}};
    r.completion = "<answer>" + std::to_string(i) + "+1</answer>";
    requests.push_back(r);
  }
  ScorePool pool(pool_threads(2));
  auto scores = pool.score(requests);
  REQUIRE(scores.size() == requests.size());
  for (int i = 0; i < 1000; ++i) {
    INFO("request " << i << ": " << scores[i].detail);
    if (i % 3 == 0) {
      CHECK(scores[i].verdict == Verdict::ok);
      CHECK(scores[i].detail == "= " + std::to_string(i + 1));
    } else {
      CHECK(scores[i].verdict == Verdict::wrong);
      CHECK(scores[i].detail == "= " + std::to_string(i + 1) + ", target " + std::to_string(i + 2));
    }
  }
  CHECK(pool.score({}).empty());
}

namespace {

// Scores 40 sleeping requests on an arena of n_threads; returns the most checkers seen at once.
int max_concurrent_checkers(int n_threads, size_t* n_thread_ids) {
  std::mutex mu;
  std::set<std::thread::id> ids;
  std::atomic<int> in_flight{0};
  std::atomic<int> max_in_flight{0};
  ScorePool pool(pool_threads(n_threads));
  pool.add_checker("slow", [&](std::string_view, const Meta&) {
    int now = ++in_flight;
    int prev = max_in_flight.load();
    while (now > prev && !max_in_flight.compare_exchange_weak(prev, now)) {
    }
    {
      std::lock_guard<std::mutex> lock(mu);
      ids.insert(std::this_thread::get_id());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    --in_flight;
    Score s;
    s.verdict = Verdict::ok;
    s.value = 1.0;
    return s;
  });
  std::vector<ScoreRequest> requests(40, ScoreRequest{"slow", "", {}});
  auto scores = pool.score(requests);
  REQUIRE(scores.size() == 40);
  for (const auto& s : scores) CHECK(s.verdict == Verdict::ok);
  *n_thread_ids = ids.size();
  return max_in_flight.load();
}

}  // namespace

TEST_CASE("pool: the arena bounds how many checkers run at once", "[cpu]") {
  size_t n_ids = 0;
  CHECK(max_concurrent_checkers(1, &n_ids) == 1);
  CHECK(n_ids == 1);
  int two = max_concurrent_checkers(2, &n_ids);
  CHECK(two <= 2);
  // NOTE: a second thread only joins where the hardware offers one; sleeping checkers then overlap
  // even on a loaded machine.
  if (std::thread::hardware_concurrency() >= 2) {
    CHECK(two == 2);
    CHECK(n_ids == 2);
  }
}

TEST_CASE("pool: unknown tasks and throwing checkers become scores", "[cpu]") {
  ScorePool pool(pool_threads(2));
  pool.add_checker("throws", [](std::string_view completion, const Meta&) -> Score {
    throw std::runtime_error("checker blew up on " + std::string(completion));
  });
  pool.add_checker("throws_int", [](std::string_view, const Meta&) -> Score { throw 42; });
  std::vector<ScoreRequest> requests = {
      {"countdown", "<answer>(15+7)*3</answer>", {{"numbers", "3,15,7"}, {"target", "66"}}},
      {"throws", "abc", {}},
      {"no_such_task", "<answer>1</answer>", {}},
      {"countdown", "<answer>(15+7)*3</answer>", {{"numbers", "3;15;7"}, {"target", "66"}}},
      {"throws_int", "", {}},
      {"countdown", "no answer here", {{"numbers", "3,15,7"}, {"target", "66"}}},
  };
  std::vector<Score> scores;
  REQUIRE_NOTHROW(scores = pool.score(requests));
  REQUIRE(scores.size() == requests.size());

  CHECK(scores[0].verdict == Verdict::ok);
  CHECK(scores[0].value == 1.0);

  CHECK(scores[1].verdict == Verdict::internal_error);
  CHECK(scores[1].value == 0.0);
  CHECK(scores[1].detail == "checker blew up on abc");

  CHECK(scores[2].verdict == Verdict::invalid_input);
  CHECK(scores[2].value == 0.0);
  CHECK(scores[2].detail.find("unknown reward task \"no_such_task\"") != std::string::npos);

  CHECK(scores[3].verdict == Verdict::invalid_input);  // malformed meta, reported by the checker
  CHECK(scores[4].verdict == Verdict::internal_error);
  CHECK(scores[4].detail.find("non-std exception") != std::string::npos);
  CHECK(scores[5].verdict == Verdict::unparsable);
}

TEST_CASE("pool: add_checker overrides the registry; bad config throws", "[cpu]") {
  ScorePool pool(pool_threads(1));
  pool.add_checker("countdown", [](std::string_view, const Meta&) {
    Score s;
    s.value = 0.5;
    s.verdict = Verdict::wrong;
    s.detail = "custom";
    return s;
  });
  auto scores = pool.score({{"countdown", "<answer>(15+7)*3</answer>", {{"numbers", "3,15,7"}, {"target", "66"}}}});
  REQUIRE(scores.size() == 1);
  CHECK(scores[0].detail == "custom");
  CHECK_THROWS_AS(ScorePool(pool_threads(0)), grpo::Error);
  CHECK_THROWS_AS(pool.add_checker("x", grpo::rewards::Checker()), grpo::Error);
}

TEST_CASE("pool: per-task concurrency limits hold and late checks become timeouts", "[cpu]") {
  PoolConfig cfg;
  cfg.n_threads = 4;
  cfg.max_running["slow"] = 1;
  cfg.deadline_seconds = 0.05;
  ScorePool pool(cfg);
  std::atomic<int> running{0}, peak{0};
  pool.add_checker("slow", [&](std::string_view completion, const Meta&) {
    const int now = ++running;
    int seen = peak.load();
    while (now > seen && !peak.compare_exchange_weak(seen, now)) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(completion == "late" ? 120 : 2));
    --running;
    Score s;
    s.value = 1;
    s.verdict = Verdict::ok;
    return s;
  });
  std::vector<ScoreRequest> reqs;
  for (int i = 0; i < 16; ++i) reqs.push_back({"slow", i == 5 ? "late" : "quick", {}});
  auto scores = pool.score(reqs);
  CHECK(peak.load() == 1);
  for (int i = 0; i < 16; ++i) CHECK(scores[static_cast<size_t>(i)].verdict == (i == 5 ? Verdict::timeout : Verdict::ok));
  CHECK_THAT(scores[5].detail, Catch::Contains("deadline"));
  cfg.max_running["slow"] = 0;
  ScorePool bad(cfg);
  CHECK_THROWS_WITH(bad.score(reqs), Catch::Contains("max_running"));
}
