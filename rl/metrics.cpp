// Run records and the progress line; see metrics.h.
#include "rl/metrics.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>
#include <vector>

#include "kernels/check.h"

namespace grpo::rl {

JsonlWriter::JsonlWriter(const std::string& path, int64_t keep_through_step) : path_(path) {
  if (keep_through_step >= 0) {
    std::vector<std::string> kept;
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (j.is_discarded()) continue;  // a torn last line from a crash
      if (j.contains("step") && j["step"].is_number_integer() && j["step"].get<int64_t>() > keep_through_step) continue;
      kept.push_back(line);
    }
    in.close();
    std::ofstream rewrite(path, std::ios::trunc);
    for (const auto& k : kept) rewrite << k << "\n";
  } else {
    std::ofstream truncate(path, std::ios::trunc);
  }
  out_.open(path, std::ios::app);
  GRPO_CHECK(out_.good(), "cannot open ", path, " for writing; hint: check the run directory's permissions");
}

void JsonlWriter::write(const nlohmann::json& record) {
  out_ << record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  out_.flush();
}

ProgressLine::ProgressLine(std::string phase, int64_t total_steps, int64_t first_step)
    : phase_(std::move(phase)),
      total_(total_steps),
      first_(first_step),
      tty_(isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()),
      last_print_(start_) {}

void ProgressLine::update(int64_t step, const std::string& text) {
  auto now = std::chrono::steady_clock::now();
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const int64_t done = step - first_;
  const double eta = done > 0 ? elapsed / done * static_cast<double>(total_ - step) : 0.0;
  const bool last = step >= total_;
  if (!tty_ && !last && std::chrono::duration<double>(now - last_print_).count() < 10.0) return;
  last_print_ = now;
  std::fprintf(stderr, "%s[%s] step %lld/%lld | %s | %s elapsed, ETA %s%s", tty_ ? "\r\033[K" : "", phase_.c_str(),
               static_cast<long long>(step), static_cast<long long>(total_), text.c_str(),
               format_duration(elapsed).c_str(), format_duration(eta).c_str(), tty_ ? "" : "\n");
  std::fflush(stderr);
  open_ = tty_;
}

void ProgressLine::finish() {
  if (open_) std::fprintf(stderr, "\n");
  open_ = false;
}

double peak_rss_mib() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;
}

std::string format_duration(double s) {
  char buf[32];
  long t = static_cast<long>(s + 0.5);
  if (t >= 3600) {
    std::snprintf(buf, sizeof(buf), "%ldh%02ldm", t / 3600, (t % 3600) / 60);
  } else if (t >= 60) {
    std::snprintf(buf, sizeof(buf), "%ldm%02lds", t / 60, t % 60);
  } else {
    std::snprintf(buf, sizeof(buf), "%lds", t);
  }
  return buf;
}

std::string format_count(double v) {
  char buf[32];
  if (v >= 1e6) {
    std::snprintf(buf, sizeof(buf), "%.1fM", v / 1e6);
  } else if (v >= 1e4) {
    std::snprintf(buf, sizeof(buf), "%.1fk", v / 1e3);
  } else {
    std::snprintf(buf, sizeof(buf), "%.0f", v);
  }
  return buf;
}

// One step's metrics over all ranks, from each rank's own line (equal shares: B / W prompts x G each). Learner
// figures are already the global batch's (identical on every rank); rollout figures are averaged, counts summed, the
// slowest rank's times and peaks kept, and the reward's std recombined exactly from each rank's mean and std.
nlohmann::json merge_rank_metrics(const std::vector<std::string>& per_rank) {
  std::vector<nlohmann::json> r;
  for (const auto& t : per_rank) r.push_back(nlohmann::json::parse(t));
  nlohmann::json m = r.front();
  const double W = static_cast<double>(r.size());
  auto over = [&](const std::string& key, auto&& fold) {
    if (!m.contains(key) || !m[key].is_number()) return;
    std::vector<double> v;
    for (const auto& x : r) v.push_back(x.value(key, 0.0));
    const double x = fold(v);
    if (m[key].is_number_integer()) {
      m[key] = static_cast<int64_t>(std::llround(x));  // counts stay integers
    } else {
      m[key] = x;
    }
  };
  auto mean = [&](const std::vector<double>& v) { double a = 0; for (double x : v) a += x; return a / W; };
  auto sum = [&](const std::vector<double>& v) { double a = 0; for (double x : v) a += x; return a; };
  auto max = [&](const std::vector<double>& v) { return *std::max_element(v.begin(), v.end()); };
  double second_moment = 0;
  for (const auto& x : r) {
    const double mu = x.value("reward_mean", 0.0), sd = x.value("reward_std", 0.0);
    second_moment += (sd * sd + mu * mu) / W;
  }
  for (const char* k : {"reward_mean", "accuracy", "format_rate", "completion_len", "truncated_rate", "kl_reward"}) over(k, mean);
  m["reward_std"] = std::sqrt(std::max(0.0, second_moment - m["reward_mean"].get<double>() * m["reward_mean"].get<double>()));
  for (const char* k : {"zero_variance_groups", "kv_preemptions", "prefix_hit_tokens", "prompts_drawn", "groups_trained",
                        "rollout_tokens_per_s"}) {
    over(k, sum);
  }
  for (const char* k : {"step_seconds", "peak_rss_mib", "kv_peak_mb", "staleness"}) over(k, max);
  for (const char* table : {"reward_components", "verdicts", "time"}) {
    nlohmann::json merged = nlohmann::json::object();
    for (const auto& x : r) {
      if (!x.contains(table)) continue;
      for (auto it = x[table].begin(); it != x[table].end(); ++it) {
        const double v = it.value().get<double>(), prev = merged.value(it.key(), 0.0);
        merged[it.key()] = std::string(table) == "reward_components" ? prev + v / W
                           : std::string(table) == "verdicts"        ? prev + v
                                                                     : std::max(prev, v);
      }
    }
    if (m.contains(table)) m[table] = merged;
  }
  for (auto& [k, v] : m["verdicts"].items()) v = static_cast<int64_t>(v.get<double>());
  m["ranks"] = r.size();
  return m;
}

}  // namespace grpo::rl
