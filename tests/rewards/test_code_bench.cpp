// Sandboxed runs per second for trivial passing programs, on one and on two threads. Prints only: no
// assertion on timing (machines differ); the assertion is that every run passes.
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>

#include "rewards/code/code_reward.h"
#include "test_code_util.h"

using grpo::rewards::Verdict;
using namespace grpo::rewards::code;

TEST_CASE("code: sandboxed runs per second for a trivial passing program (prints the rate)", "[cpu][slow]") {
  const SandboxConfig cfg;
  const CodeTask call_task{"def check(candidate):\n    assert candidate(1) == 2\n", "inc", {}};
  const CodeTask io_task{"", "", {{"1\n", "2\n"}}};
  const std::string call_program = "def inc(x):\n    return x + 1\n";
  const std::string io_program = "print(int(input()) + 1)\n";
  constexpr size_t kRuns = 40;
  for (int threads : {1, 2}) {
    for (bool io : {true, false}) {
      std::atomic<size_t> ok{0};
      auto t0 = std::chrono::steady_clock::now();
      grpo_test::parallel_for(kRuns, threads, [&](size_t) {
        auto s = io ? score_code(io_program, io_task, cfg) : score_code(call_program, call_task, cfg);
        ok += s.verdict == Verdict::ok;
      });
      double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::printf("code bench (%s, %s): %zu runs on %d thread(s) in %.2f s = %.1f checks/s\n",
                  io ? "stdin/stdout, 1 sandbox per check" : "assert tests, 2 sandboxes per check",
                  bwrap_works(cfg) ? "bwrap" : "no bwrap", kRuns, threads, secs, kRuns / secs);
      CHECK(ok == kRuns);
    }
  }
}
