// Ranks of a distributed test as child processes (fork): each runs body(rank); an exception's message is appended to
// `log` and the child exits 1, else 0 (or whatever the body passes to _exit). The parent must not have used LibTorch
// before forking (its thread pools do not survive a fork).
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <vector>

namespace grpo::test {

struct RanksResult {
  std::vector<int> status;  // per rank: its exit status, or 128 + the signal that ended it
  double seconds = 0;       // until the last rank ended
  std::string log;          // what the ranks wrote to the log
};

inline RanksResult fork_ranks(int64_t world, const std::string& log, const std::function<void(int64_t)>& body) {
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<pid_t> pids;
  for (int64_t r = 0; r < world; ++r) {
    const pid_t p = ::fork();
    if (p < 0) throw std::runtime_error("fork failed");
    if (p == 0) {
      int status = 0;
      try {
        body(r);
      } catch (const std::exception& e) {
        std::ofstream(log, std::ios::app) << e.what() << "\n";
        status = 1;
      }
      std::fflush(stdout);
      std::fflush(stderr);
      _exit(status);
    }
    pids.push_back(p);
  }
  RanksResult out;
  for (pid_t p : pids) {
    int st = 0;
    ::waitpid(p, &st, 0);
    out.status.push_back(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
  }
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::ifstream in(log);
  out.log.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return out;
}

}  // namespace grpo::test
