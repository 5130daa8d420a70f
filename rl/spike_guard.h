// The spike guard: an update whose loss or gradient norm is far above its recent history is not applied. Each
// accepted update adds its |loss| and gradient norm to a window; a new one is judged against the window's medians
// (robust to the spikes themselves, and following a slow drift). After max_skips skipped updates in a row the
// trainer rolls back to the last checkpoint saved before the streak and goes on with the next data. NaN or Inf is
// always refused, guard or not. Plain numbers, no LibTorch.
#pragma once

#include <cstdint>
#include <deque>
#include <string>

#include <nlohmann/json.hpp>

namespace grpo::rl {

struct SpikeGuardConfig {
  double factor = 10.0;    // skip when grad norm > factor x median grad norm, or |loss| > factor x median |loss|; 0 = off
  int64_t window = 50;     // accepted updates the medians are taken over
  int64_t warmup = 10;     // accepted updates before the guard judges
  int64_t max_skips = 3;   // skipped updates in a row that trigger a rollback; 0 = never roll back
  void validate() const;
};

class SpikeGuard {
 public:
  explicit SpikeGuard(SpikeGuardConfig cfg = {});

  // Empty when the update may be applied, else the reason ("grad norm 812 > 10 x median 3.1").
  std::string judge(double loss, double grad_norm) const;
  void accept(double loss, double grad_norm);  // into the window; ends a streak
  void reject(int64_t step);                   // one more in the streak (step: the GRPO step, for the log)
  bool rollback_due() const { return cfg_.max_skips > 0 && streak_ >= cfg_.max_skips; }
  int64_t streak() const { return streak_; }
  int64_t streak_start() const { return streak_start_; }  // the first skipped step of the streak (-1: none)
  void rolled_back() { streak_ = 0, streak_start_ = -1; }
  const SpikeGuardConfig& config() const { return cfg_; }

  // The window and the streak, for checkpoints: a resumed run judges as the uninterrupted one would.
  nlohmann::json to_json() const;
  void load(const nlohmann::json& j);

 private:
  SpikeGuardConfig cfg_;
  std::deque<double> losses_, norms_;  // |loss| and grad norm of the last `window` accepted updates
  int64_t streak_ = 0, streak_start_ = -1;
};

}  // namespace grpo::rl
