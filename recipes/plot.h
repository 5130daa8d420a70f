// `grpo plot RUN_DIR [RUN_DIR...]`: a run's curves in one PNG, runs overlaid, without a browser. Eight panels: reward,
// accuracy (the held-out evaluation as dots), completion length, KL, entropy, clip fraction, gradient norm and
// rollout tokens/s, each a faint raw line under a moving average. Drawn with cairo.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace grpo::recipes {

// One run's metrics.jsonl as named series of (step, value) points.
struct RunSeries {
  std::string label;
  std::map<std::string, std::vector<std::pair<double, double>>> series;
};

// dir: a phase directory holding metrics.jsonl, or a run's out_dir (its grpo/, else sft/). A torn or malformed line
// is skipped (counted in `skipped`); no metrics.jsonl at all is an error naming the path.
RunSeries load_run(const std::string& dir, int64_t* skipped = nullptr);

struct PlotOptions {
  int width = 1600, height = 900;
  int smooth = 0;  // moving-average window in points; 0 = about 1/40 of the longest run
  std::string title;
};

// Writes the panels of `runs` to `png_path` (atomically: a temporary file renamed into place).
void render_plot(const std::vector<RunSeries>& runs, const std::string& png_path, const PlotOptions& opt);

// The panels' metrics, in drawing order.
const std::vector<std::string>& plot_metrics();

// argv after the command name. Returns the exit status; errors throw grpo::Error (one line).
int run_plot(int argc, char** argv);

}  // namespace grpo::recipes
