// grpo plot: metrics.jsonl read with a torn line skipped, then two runs drawn into a PNG that is read back: its size,
// and both runs' colours present in it (each run's line was drawn).
#include <catch2/catch.hpp>

#include <cairo.h>

#include <cmath>
#include <cstring>
#include <fstream>

#include "recipes/plot.h"
#include "tests/temp_dir.h"

using namespace grpo::recipes;

namespace {

void write_run(const std::string& dir, double slope, bool torn) {
  std::filesystem::create_directories(dir + "/grpo");
  std::ofstream out(dir + "/grpo/metrics.jsonl");
  out << "{\"step\":0,\"eval_accuracy\":0.2}\n";
  for (int s = 1; s <= 60; ++s) {
    out << "{\"step\":" << s << ",\"reward_mean\":" << slope * s << ",\"accuracy\":" << 0.2 + slope * s * 0.5
        << ",\"grad_norm\":" << 1 + std::sin(s) << ",\"time\":{\"generate\":0.1},\"update_skipped\":false}\n";
  }
  if (torn) out << "{\"step\":61,\"reward_m";
}

// Pixels of `png` within `tol` of (r, g, b) in 0-255.
int count_color(cairo_surface_t* s, int r, int g, int b, int tol = 10) {
  cairo_surface_flush(s);
  const int w = cairo_image_surface_get_width(s), h = cairo_image_surface_get_height(s);
  const int stride = cairo_image_surface_get_stride(s);
  const unsigned char* data = cairo_image_surface_get_data(s);
  int n = 0;
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      uint32_t px;
      std::memcpy(&px, data + y * stride + x * 4, 4);
      const int pr = (px >> 16) & 0xFF, pg = (px >> 8) & 0xFF, pb = px & 0xFF;
      n += std::abs(pr - r) <= tol && std::abs(pg - g) <= tol && std::abs(pb - b) <= tol;
    }
  }
  return n;
}

}  // namespace

TEST_CASE("grpo plot: runs read (torn lines skipped) and drawn, each in its colour", "[cpu]") {
  grpo::test::TempDir dir;
  const std::string a = (dir.path / "a").string(), b = (dir.path / "b").string();
  write_run(a, 0.01, /*torn=*/true);
  write_run(b, 0.005, /*torn=*/false);
  int64_t skipped = -1;
  RunSeries ra = load_run(a, &skipped);
  CHECK(skipped == 1);
  REQUIRE(ra.series.count("reward_mean"));
  CHECK(ra.series["reward_mean"].size() == 60);
  CHECK(ra.series["eval_accuracy"].size() == 1);
  CHECK(ra.series.count("time") == 0);  // nested objects are not series here
  RunSeries rb = load_run(b + "/grpo");  // the phase directory works too
  CHECK(rb.series["reward_mean"].back().second == Approx(0.3));
  CHECK_THROWS_WITH(load_run((dir.path / "none").string()), Catch::Contains("no metrics.jsonl"));

  const std::string png = (dir.path / "plot.png").string();
  PlotOptions opt;
  opt.width = 800;
  opt.height = 500;
  render_plot({ra, rb}, png, opt);
  cairo_surface_t* s = cairo_image_surface_create_from_png(png.c_str());
  REQUIRE(cairo_surface_status(s) == CAIRO_STATUS_SUCCESS);
  CHECK(cairo_image_surface_get_width(s) == 800);
  CHECK(cairo_image_surface_get_height(s) == 500);
  // The first two palette colours: blue (0, 114, 178) for run a, vermillion (214, 94, 0) for run b.
  CHECK(count_color(s, 0, 114, 178) > 200);
  CHECK(count_color(s, 214, 94, 0) > 200);
  cairo_surface_destroy(s);
  CHECK(plot_metrics().size() == 8);
}
