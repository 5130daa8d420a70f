// grpo plot; see plot.h.
#include "recipes/plot.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>

#include <nlohmann/json.hpp>

#if GRPO_HAS_CAIRO
#include <cairo.h>
#endif

#include "kernels/check.h"
#include "recipes/cli_args.h"

namespace grpo::recipes {

namespace fs = std::filesystem;

namespace {

struct Panel {
  const char* metric;
  const char* title;
  const char* extra;  // a second series drawn as dots (the held-out evaluation), or null
};

const std::vector<Panel>& panels() {
  static const std::vector<Panel> p = {
      {"reward_mean", "reward (mean)", nullptr},
      {"accuracy", "accuracy (train; dots: held-out)", "eval_accuracy"},
      {"completion_len", "completion length (tokens)", nullptr},
      {"kl", "KL to reference", nullptr},
      {"entropy", "entropy (nats/token)", nullptr},
      {"clip_fraction", "clip fraction", nullptr},
      {"grad_norm", "gradient norm", nullptr},
      {"rollout_tokens_per_s", "rollout tokens/s", nullptr},
  };
  return p;
}

std::string metrics_file(const std::string& dir) {
  for (const char* rel : {"metrics.jsonl", "grpo/metrics.jsonl", "sft/metrics.jsonl"}) {
    fs::path p = fs::path(dir) / rel;
    if (fs::exists(p)) return p.string();
  }
  GRPO_FAIL("grpo plot: no metrics.jsonl in ", dir, " (nor in its grpo/ or sft/); hint: pass a run directory written "
            "by grpo train or grpo sft");
}

}  // namespace

const std::vector<std::string>& plot_metrics() {
  static const std::vector<std::string> m = [] {
    std::vector<std::string> v;
    for (const auto& p : panels()) v.push_back(p.metric);
    return v;
  }();
  return m;
}

RunSeries load_run(const std::string& dir, int64_t* skipped) {
  const std::string path = metrics_file(dir);
  std::ifstream in(path);
  GRPO_CHECK(in.good(), "grpo plot: cannot read ", path);
  RunSeries run;
  run.label = dir;
  int64_t bad = 0;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object() || !j.contains("step") || !j["step"].is_number()) {
      ++bad;
      continue;
    }
    const double step = j["step"].get<double>();
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (!it.value().is_number() || it.key() == "step") continue;
      const double v = it.value().get<double>();
      if (std::isfinite(v)) run.series[it.key()].emplace_back(step, v);
    }
  }
  if (skipped != nullptr) *skipped = bad;
  return run;
}

#if GRPO_HAS_CAIRO

namespace {

struct Color {
  double r, g, b;
};
// Distinct on white, also to the colour-blind (Okabe & Ito).
const Color kPalette[] = {{0.00, 0.45, 0.70}, {0.84, 0.37, 0.00}, {0.00, 0.62, 0.45}, {0.80, 0.47, 0.65},
                          {0.90, 0.62, 0.00}, {0.34, 0.71, 0.91}, {0.35, 0.35, 0.35}, {0.94, 0.89, 0.26}};

// About five round tick values covering [lo, hi].
std::vector<double> ticks(double lo, double hi) {
  std::vector<double> out;
  const double span = hi - lo;
  if (!(span > 0)) return {lo};
  const double raw = span / 5, mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double step = raw / mag < 1.5 ? mag : raw / mag < 3.5 ? 2 * mag : raw / mag < 7.5 ? 5 * mag : 10 * mag;
  for (double t = std::ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push_back(std::abs(t) < step * 1e-9 ? 0 : t);
  return out;
}

std::string tick_label(double v) {
  char buf[32];
  const double a = std::abs(v);
  if (a >= 1e6) {
    std::snprintf(buf, sizeof(buf), "%.3gM", v / 1e6);
  } else if (a >= 1e4) {
    std::snprintf(buf, sizeof(buf), "%.3gk", v / 1e3);
  } else {
    std::snprintf(buf, sizeof(buf), "%.4g", v);
  }
  return buf;
}

std::vector<std::pair<double, double>> moving_average(const std::vector<std::pair<double, double>>& pts, int w) {
  if (w <= 1) return pts;
  std::vector<std::pair<double, double>> out;
  double sum = 0;
  for (size_t i = 0; i < pts.size(); ++i) {
    sum += pts[i].second;
    if (i >= static_cast<size_t>(w)) sum -= pts[i - static_cast<size_t>(w)].second;
    const size_t n = std::min(i + 1, static_cast<size_t>(w));
    out.emplace_back(pts[i].first, sum / static_cast<double>(n));
  }
  return out;
}

void text(cairo_t* cr, double x, double y, const std::string& s, double size, double align_x = 0, bool bold = false) {
  cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr, size);
  cairo_text_extents_t e;
  cairo_text_extents(cr, s.c_str(), &e);
  cairo_move_to(cr, x - align_x * e.x_advance, y);
  cairo_show_text(cr, s.c_str());
}

void draw_panel(cairo_t* cr, const Panel& p, const std::vector<RunSeries>& runs, double x0, double y0, double w,
                double h, int smooth) {
  const double left = x0 + 62, right = x0 + w - 14, top = y0 + 30, bottom = y0 + h - 34;
  cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
  text(cr, (left + right) / 2, y0 + 20, p.title, 14, 0.5, true);
  double xmin = std::numeric_limits<double>::infinity(), xmax = -xmin, ymin = xmin, ymax = -xmin;
  auto extend = [&](const std::vector<std::pair<double, double>>& pts) {
    for (const auto& [x, y] : pts) {
      xmin = std::min(xmin, x), xmax = std::max(xmax, x), ymin = std::min(ymin, y), ymax = std::max(ymax, y);
    }
  };
  for (const auto& r : runs) {
    if (auto it = r.series.find(p.metric); it != r.series.end()) extend(it->second);
    if (p.extra != nullptr) {
      if (auto it = r.series.find(p.extra); it != r.series.end()) extend(it->second);
    }
  }
  cairo_set_line_width(cr, 1);
  cairo_set_source_rgb(cr, 0.55, 0.55, 0.55);
  cairo_rectangle(cr, left, top, right - left, bottom - top);
  cairo_stroke(cr);
  if (!std::isfinite(xmin)) {
    text(cr, (left + right) / 2, (top + bottom) / 2, "no data", 13, 0.5);
    return;
  }
  if (xmax == xmin) xmax = xmin + 1;
  if (ymax == ymin) ymin -= 0.5, ymax += 0.5;
  const double pad = (ymax - ymin) * 0.05;
  ymin -= pad, ymax += pad;
  auto X = [&](double x) { return left + (x - xmin) / (xmax - xmin) * (right - left); };
  auto Y = [&](double y) { return bottom - (y - ymin) / (ymax - ymin) * (bottom - top); };
  // Grid and tick labels.
  for (double t : ticks(ymin, ymax)) {
    cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
    cairo_move_to(cr, left, Y(t));
    cairo_line_to(cr, right, Y(t));
    cairo_stroke(cr);
    cairo_set_source_rgb(cr, 0.25, 0.25, 0.25);
    text(cr, left - 6, Y(t) + 4, tick_label(t), 11, 1.0);
  }
  for (double t : ticks(xmin, xmax)) {
    cairo_set_source_rgb(cr, 0.25, 0.25, 0.25);
    text(cr, X(t), bottom + 15, tick_label(t), 11, 0.5);
  }
  text(cr, (left + right) / 2, bottom + 29, "step", 11, 0.5);
  cairo_save(cr);
  cairo_rectangle(cr, left, top, right - left, bottom - top);
  cairo_clip(cr);
  for (size_t i = 0; i < runs.size(); ++i) {
    const Color c = kPalette[i % (sizeof(kPalette) / sizeof(kPalette[0]))];
    auto it = runs[i].series.find(p.metric);
    if (it != runs[i].series.end() && !it->second.empty()) {
      auto line = [&](const std::vector<std::pair<double, double>>& pts, double alpha, double width) {
        cairo_set_source_rgba(cr, c.r, c.g, c.b, alpha);
        cairo_set_line_width(cr, width);
        cairo_move_to(cr, X(pts[0].first), Y(pts[0].second));
        for (const auto& [x, y] : pts) cairo_line_to(cr, X(x), Y(y));
        cairo_stroke(cr);
      };
      if (smooth > 1) line(it->second, 0.25, 1.0);
      line(moving_average(it->second, smooth), 1.0, 2.0);
    }
    if (p.extra != nullptr) {
      if (auto e = runs[i].series.find(p.extra); e != runs[i].series.end()) {
        cairo_set_source_rgb(cr, c.r, c.g, c.b);
        for (const auto& [x, y] : e->second) {
          cairo_arc(cr, X(x), Y(y), 4.0, 0, 2 * M_PI);
          cairo_fill(cr);
        }
      }
    }
  }
  cairo_restore(cr);
}

}  // namespace

void render_plot(const std::vector<RunSeries>& runs, const std::string& png_path, const PlotOptions& opt) {
  GRPO_CHECK(!runs.empty(), "grpo plot: no runs to draw");
  GRPO_CHECK(opt.width >= 400 && opt.height >= 300, "grpo plot: the image must be at least 400 x 300");
  int smooth = opt.smooth;
  if (smooth <= 0) {
    size_t longest = 0;
    for (const auto& r : runs) {
      if (auto it = r.series.find("reward_mean"); it != r.series.end()) longest = std::max(longest, it->second.size());
    }
    smooth = std::max(1, static_cast<int>(longest / 40));
  }
  cairo_surface_t* surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, opt.width, opt.height);
  cairo_t* cr = cairo_create(surface);
  cairo_set_source_rgb(cr, 1, 1, 1);
  cairo_paint(cr);
  // Title and legend.
  const double legend_h = 26.0 + 20.0 * static_cast<double>((runs.size() + 2) / 3);
  cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
  text(cr, 16, 24, opt.title.empty() ? "grpo plot" : opt.title, 16, 0, true);
  if (smooth > 1) text(cr, opt.width - 16.0, 24, "lines: moving average of " + std::to_string(smooth) + " steps", 12, 1.0);
  for (size_t i = 0; i < runs.size(); ++i) {
    const Color c = kPalette[i % (sizeof(kPalette) / sizeof(kPalette[0]))];
    const double lx = 16 + static_cast<double>(i % 3) * (opt.width - 32) / 3.0, ly = 44 + 20.0 * static_cast<double>(i / 3);
    cairo_set_source_rgb(cr, c.r, c.g, c.b);
    cairo_rectangle(cr, lx, ly - 10, 22, 10);
    cairo_fill(cr);
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    text(cr, lx + 28, ly, runs[i].label, 12);
  }
  const int cols = 4, rows = 2;
  const double pw = static_cast<double>(opt.width) / cols, ph = (opt.height - legend_h) / rows;
  for (size_t k = 0; k < panels().size(); ++k) {
    draw_panel(cr, panels()[k], runs, static_cast<double>(k % cols) * pw,
               legend_h + static_cast<double>(k / cols) * ph, pw, ph, smooth);
  }
  cairo_destroy(cr);
  const std::string tmp = png_path + ".tmp-" + std::to_string(::getpid());
  const cairo_status_t st = cairo_surface_write_to_png(surface, tmp.c_str());
  cairo_surface_destroy(surface);
  GRPO_CHECK(st == CAIRO_STATUS_SUCCESS, "grpo plot: cannot write ", png_path, ": ", cairo_status_to_string(st));
  fs::rename(tmp, png_path);
}

#else

void render_plot(const std::vector<RunSeries>&, const std::string&, const PlotOptions&) {
  GRPO_FAIL("grpo plot: this grpo was built without cairo; hint: apt install libcairo2-dev (scripts/setup does) and "
            "rebuild");
}

#endif

int run_plot(int argc, char** argv) {
  static const char* usage = "grpo plot RUN_DIR [RUN_DIR...] [--out FILE.png] [--smooth N] [--title TEXT] "
                             "[--width W] [--height H]";
  static const char* details =
      "Draws reward, accuracy (held-out evaluation as dots), completion length, KL, entropy, clip fraction, gradient\n"
      "norm and rollout tokens/s of each run's metrics.jsonl into one PNG, runs overlaid in distinct colours. A\n"
      "RUN_DIR is a phase directory (runs/x/grpo) or a run's out_dir (its grpo/, else sft/). --out defaults to\n"
      "plot.png in the first RUN_DIR; --smooth is the moving-average window in steps (default: 1/40 of the run).\n";
  std::vector<std::string> dirs;
  std::vector<char*> flags;
  for (int i = 0; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("-", 0) == 0) {
      flags.push_back(argv[i]);
      if (a != "-h" && a != "--help" && i + 1 < argc) flags.push_back(argv[++i]);
    } else {
      dirs.push_back(a);
    }
  }
  Args args = parse_args(static_cast<int>(flags.size()), flags.data(), "plot", {"--out", "--smooth", "--title", "--width",
                         "--height"}, {}, usage, details);
  GRPO_CHECK(!dirs.empty(), "grpo plot: name at least one run directory; usage: ", usage);
  PlotOptions opt;
  opt.smooth = static_cast<int>(args.get_integer("--smooth", 0, "plot", 0));
  opt.width = static_cast<int>(args.get_count("--width", opt.width, "plot"));
  opt.height = static_cast<int>(args.get_count("--height", opt.height, "plot"));
  opt.title = args.get("--title");
  std::vector<RunSeries> runs;
  for (const auto& d : dirs) {
    int64_t skipped = 0;
    runs.push_back(load_run(d, &skipped));
    if (skipped > 0) std::fprintf(stderr, "grpo plot: %s: %lld malformed lines skipped\n", d.c_str(), static_cast<long long>(skipped));
  }
  const std::string out = args.get("--out", (fs::path(dirs.front()) / "plot.png").string());
  render_plot(runs, out, opt);
  std::printf("%s\n", out.c_str());
  return 0;
}

}  // namespace grpo::recipes
