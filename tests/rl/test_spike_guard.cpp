// The spike guard on number sequences: a slow drift is followed (no skip), a poisoned update is skipped and stays out
// of the medians, N skips in a row call for a rollback, NaN/Inf are always refused, and its state round-trips.
#include "tests/catch_torch.h"

#include <cmath>
#include <limits>

#include "rl/spike_guard.h"

using namespace grpo::rl;

TEST_CASE("spike guard: a slow drift passes, a poisoned update is skipped, N in a row ask for a rollback", "[cpu]") {
  SpikeGuardConfig cfg;
  cfg.factor = 5;
  cfg.window = 20;
  cfg.warmup = 5;
  cfg.max_skips = 3;
  SpikeGuard g(cfg);
  // Warm-up: nothing is judged but NaN/Inf.
  CHECK(g.judge(1e6, 1e6).empty());
  CHECK_FALSE(g.judge(std::nan(""), 1.0).empty());
  CHECK_FALSE(g.judge(0.1, std::numeric_limits<double>::infinity()).empty());
  // A grad norm drifting up 3% per step for 150 steps (x 84 overall) and a noisy loss: never skipped.
  double norm = 1.0;
  int64_t step = 0;
  for (; step < 150; ++step, norm *= 1.03) {
    const double loss = 0.05 * std::sin(static_cast<double>(step));
    INFO("step " << step);
    REQUIRE(g.judge(loss, norm).empty());
    g.accept(loss, norm);
  }
  // A poisoned batch: 20 x the recent norm is skipped, with the reason.
  const std::string why = g.judge(0.01, 20 * norm);
  CHECK(why.find("grad norm") != std::string::npos);
  CHECK(why.find("x median") != std::string::npos);
  g.reject(step);
  CHECK(g.streak() == 1);
  CHECK(g.streak_start() == step);
  CHECK_FALSE(g.rollback_due());
  // The next normal update passes (the spike never entered the medians) and ends the streak.
  CHECK(g.judge(0.02, norm).empty());
  g.accept(0.02, norm);
  CHECK(g.streak() == 0);
  // A loss spike counts too.
  CHECK(g.judge(50.0, norm).find("|loss|") != std::string::npos);
  // Three in a row: rollback due; the streak started at the first.
  for (int i = 0; i < 3; ++i) g.reject(200 + i);
  CHECK(g.rollback_due());
  CHECK(g.streak_start() == 200);
  // The state round-trips (a resumed run judges alike).
  SpikeGuard h(cfg);
  h.load(g.to_json());
  CHECK(h.rollback_due());
  CHECK(h.judge(0.01, 20 * norm) == g.judge(0.01, 20 * norm));
  CHECK(h.judge(0.01, norm).empty());
  g.rolled_back();
  CHECK_FALSE(g.rollback_due());
  // factor 0: only NaN/Inf.
  cfg.factor = 0;
  SpikeGuard off(cfg);
  for (int i = 0; i < 10; ++i) off.accept(0.1, 1.0);
  CHECK(off.judge(1e9, 1e9).empty());
  CHECK_FALSE(off.judge(std::nan(""), 1.0).empty());
  cfg.factor = 0.5;
  CHECK_THROWS_WITH(cfg.validate(), Catch::Contains("rl.spike_factor"));
}
