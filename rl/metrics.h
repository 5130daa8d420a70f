// What a run tells the user: metrics.jsonl (one JSON object per step), samples.jsonl (completions with their
// rewards), log.txt, and a live progress line on stderr (redrawn in place on a terminal, one line every few
// seconds otherwise). Plain files appended and flushed per record, so a crash loses at most one line.
#pragma once

#include <chrono>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace grpo::rl {

class JsonlWriter {
 public:
  // With keep_through_step >= 0 (a resumed run), keeps the records up to that "step" and appends after them
  // (the steps after the checkpoint are rewritten); otherwise starts the file empty.
  JsonlWriter(const std::string& path, int64_t keep_through_step = -1);
  void write(const nlohmann::json& record);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::ofstream out_;
};

class ProgressLine {
 public:
  ProgressLine(std::string phase, int64_t total_steps, int64_t first_step = 0);
  // text: the middle of the line ("reward 0.41 | 12k tok/s"); ETA from the average step time so far.
  void update(int64_t step, const std::string& text);
  void finish();  // ends the line on a terminal

 private:
  std::string phase_;
  int64_t total_, first_;
  bool tty_;
  std::chrono::steady_clock::time_point start_, last_print_;
  bool open_ = false;
};

// One step's metrics.jsonl record over all data-parallel ranks, from each rank's own record (equal shares): rollout
// figures averaged, counts summed, the slowest rank's times and peaks kept, the reward's std recombined exactly;
// learner figures (already the global batch's) as rank 0 has them.
nlohmann::json merge_rank_metrics(const std::vector<std::string>& per_rank);

// Peak resident set size of this process in MiB.
double peak_rss_mib();
// "1h02m", "4m12s", "37s"
std::string format_duration(double seconds);
// "12.3k", "950", "1.2M"
std::string format_count(double v);

}  // namespace grpo::rl
