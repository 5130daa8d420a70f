// The spike guard; see spike_guard.h.
#include "rl/spike_guard.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/check.h"

namespace grpo::rl {

void SpikeGuardConfig::validate() const {
  GRPO_CHECK(factor == 0 || factor > 1, "rl.spike_factor must be 0 (off) or > 1, got ", factor);
  GRPO_CHECK(window >= 1, "rl.spike_window must be >= 1, got ", window);
  GRPO_CHECK(warmup >= 1 && warmup <= window, "rl.spike_warmup must be in [1, rl.spike_window], got ", warmup);
  GRPO_CHECK(max_skips >= 0, "rl.spike_max_skips must be >= 0 (0 = never roll back), got ", max_skips);
}

SpikeGuard::SpikeGuard(SpikeGuardConfig cfg) : cfg_(cfg) { cfg_.validate(); }

namespace {

double median(const std::deque<double>& d) {
  std::vector<double> v(d.begin(), d.end());
  const size_t mid = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid), v.end());
  if (v.size() % 2 == 1) return v[mid];
  const double hi = v[mid];
  return (*std::max_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid)) + hi) / 2;
}

std::string fmt(double x) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.4g", x);
  return buf;
}

}  // namespace

std::string SpikeGuard::judge(double loss, double grad_norm) const {
  if (!std::isfinite(loss)) return "loss is " + fmt(loss);
  if (!std::isfinite(grad_norm)) return "grad norm is " + fmt(grad_norm);
  if (cfg_.factor == 0 || static_cast<int64_t>(norms_.size()) < cfg_.warmup) return "";
  const double mn = median(norms_), ml = median(losses_);
  if (grad_norm > cfg_.factor * mn) {
    return "grad norm " + fmt(grad_norm) + " > " + fmt(cfg_.factor) + " x median " + fmt(mn);
  }
  // NOTE: a GRPO loss hovers around 0, so its median |loss| can be tiny; the floor keeps noise from counting.
  if (std::abs(loss) > cfg_.factor * std::max(ml, 1e-3)) {
    return "|loss| " + fmt(std::abs(loss)) + " > " + fmt(cfg_.factor) + " x median " + fmt(ml);
  }
  return "";
}

void SpikeGuard::accept(double loss, double grad_norm) {
  losses_.push_back(std::abs(loss));
  norms_.push_back(grad_norm);
  while (static_cast<int64_t>(norms_.size()) > cfg_.window) {
    losses_.pop_front();
    norms_.pop_front();
  }
  streak_ = 0;
  streak_start_ = -1;
}

void SpikeGuard::reject(int64_t step) {
  if (streak_ == 0) streak_start_ = step;
  ++streak_;
}

nlohmann::json SpikeGuard::to_json() const {
  return {{"losses", std::vector<double>(losses_.begin(), losses_.end())},
          {"grad_norms", std::vector<double>(norms_.begin(), norms_.end())},
          {"streak", streak_},
          {"streak_start", streak_start_}};
}

void SpikeGuard::load(const nlohmann::json& j) {
  if (!j.is_object()) return;
  auto l = j.value("losses", std::vector<double>()), n = j.value("grad_norms", std::vector<double>());
  GRPO_CHECK(l.size() == n.size(), "spike guard state: ", l.size(), " losses but ", n.size(), " grad norms");
  losses_.assign(l.begin(), l.end());
  norms_.assign(n.begin(), n.end());
  streak_ = j.value("streak", int64_t{0});
  streak_start_ = j.value("streak_start", int64_t{-1});
}

}  // namespace grpo::rl
