// An external reward: the user's own program, in any language, started once and kept running. For each completion
// it reads one JSON line {"prompt": ..., "completion": ..., "meta": {...}} on stdin and answers one line on stdout:
// a number (the reward; verdict ok when > 0, wrong otherwise) or a JSON object {"reward": x, "verdict": "ok" |
// "wrong" | ..., "detail": "..."}. Each request has a deadline. A crash, a hang past the deadline or a line that is
// neither becomes a Score with a verdict and a message, and the program (its whole process group) is restarted for
// the next request, so answers never shift onto the wrong request: never a stalled or dead run. Not a sandbox: the
// program runs as the user, like a TRL reward function.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "rewards/score.h"

namespace grpo::rewards {

// The meta key that carries the prompt text to the program (sent as "prompt", not inside "meta").
constexpr const char* kPromptMetaKey = "__prompt";

struct ExternalRewardConfig {
  std::string command;           // run with /bin/sh -c in the working directory; "" = none
  double timeout_seconds = 30;   // per request, from writing the line to reading the answer
};

class ExternalReward {
 public:
  explicit ExternalReward(ExternalRewardConfig cfg);
  ~ExternalReward();
  ExternalReward(const ExternalReward&) = delete;
  ExternalReward& operator=(const ExternalReward&) = delete;

  // Thread-safe: requests are serialised over the one process. The prompt text is meta[kPromptMetaKey].
  Score score(std::string_view completion, const Meta& meta);
  int64_t restarts() const { return restarts_; }  // times the program had to be started again

 private:
  struct Process;
  Score exchange(const std::string& line);  // REQUIRES: mu_ held
  ExternalRewardConfig cfg_;
  std::mutex mu_;
  std::unique_ptr<Process> proc_;
  int64_t starts_ = 0, restarts_ = 0;
};

}  // namespace grpo::rewards
