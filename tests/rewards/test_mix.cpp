// Reward mixtures: the weighted sum, each component's unweighted value, the verifier's verdict as the Score's, the
// overlong penalty from token counts, and validation naming the component; and the external reward program: its
// answers, and a crash, a hang past the deadline or garbage scored with a verdict while the next request still works.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "kernels/check.h"
#include "rewards/external.h"
#include "rewards/mix.h"
#include "tests/temp_dir.h"

using namespace grpo::rewards;
namespace fs = std::filesystem;

TEST_CASE("a mixture sums weighted components and takes the verifier's verdict", "[cpu]") {
  ScorePool pool;
  RewardMixConfig cfg;
  cfg.weights = {{"math", 1.0}, {"format", 0.5}};
  REQUIRE_NOTHROW(cfg.validate(false));
  CHECK(cfg.resolved_verifier() == "math");
  const Meta meta = {{"answer", "4"}};
  std::vector<MixRequest> req = {
      {"<think>2+2</think> \\boxed{4}", &meta, 10, 100},  // right, formatted
      {"\\boxed{4}", &meta, 10, 100},                     // right, no think block
      {"<think>hm</think> \\boxed{5}", &meta, 10, 100},   // wrong, formatted
  };
  auto s = score_mix(pool, cfg, req);
  REQUIRE(s.size() == 3);
  CHECK(s[0].value == Approx(1.5));
  CHECK(s[0].verdict == Verdict::ok);
  CHECK(s[0].components.at("math") == 1.0);
  CHECK(s[0].components.at("format") == 1.0);
  CHECK(s[0].answer == "4");  // the verifier's answer (maj@k votes on it)
  CHECK(s[1].value == Approx(1.0));
  CHECK(s[1].verdict == Verdict::ok);  // accuracy is the verifier's, not the shaped total
  CHECK(s[2].value == Approx(0.5));
  CHECK(s[2].verdict == Verdict::wrong);
  // DAPO's overlong penalty from the token counts: 0 up to max - buffer, then down to -1 at the budget.
  cfg.weights = {{"math", 1.0}, {"overlong", 1.0}};
  cfg.overlong_buffer = 20;
  req = {{"\\boxed{4}", &meta, 80, 100}, {"\\boxed{4}", &meta, 90, 100}, {"\\boxed{4}", &meta, 100, 100}};
  s = score_mix(pool, cfg, req);
  CHECK(s[0].components.at("overlong") == Approx(0.0));
  CHECK(s[1].components.at("overlong") == Approx(-0.5));
  CHECK(s[2].components.at("overlong") == Approx(-1.0));
  CHECK(s[2].value == Approx(0.0));
  CHECK(s[2].verdict == Verdict::ok);
  // "boxed" is shaping too (math stays the verifier): one \boxed{} answer, no think block needed.
  cfg = RewardMixConfig{};
  cfg.weights = {{"math", 1.0}, {"boxed", 0.1}};
  REQUIRE_NOTHROW(cfg.validate(false));
  CHECK(cfg.resolved_verifier() == "math");
  req = {{"so \\boxed{4}", &meta, 10, 100}, {"the answer is 4", &meta, 10, 100}, {"\\boxed{5}", &meta, 10, 100}};
  s = score_mix(pool, cfg, req);
  CHECK(s[0].value == Approx(1.1));
  CHECK(s[0].components.at("boxed") == 1.0);
  CHECK(s[1].value == Approx(1.0));  // right by the last number, not boxed
  CHECK(s[1].verdict == Verdict::ok);
  CHECK(s[2].value == Approx(0.1));
  CHECK(s[2].verdict == Verdict::wrong);
}

TEST_CASE("mixture validation names the component", "[cpu]") {
  RewardMixConfig cfg;
  cfg.weights = {{"poetry", 1.0}};
  CHECK_THROWS_WITH(cfg.validate(false), Catch::Contains("'poetry'") && Catch::Contains("math"));
  cfg.weights = {{"math", std::nan("")}};
  CHECK_THROWS_WITH(cfg.validate(false), Catch::Contains("reward.weights.math"));
  cfg.weights = {{"math", 1.0}, {"countdown", 1.0}};
  CHECK_THROWS_WITH(cfg.validate(false), Catch::Contains("reward.verifier"));
  cfg.verifier = "countdown";
  CHECK_NOTHROW(cfg.validate(false));
  cfg.verifier = "code";
  CHECK_THROWS_WITH(cfg.validate(false), Catch::Contains("'code'"));
  cfg = RewardMixConfig{};
  cfg.weights = {{"math", 1.0}, {"external", 1.0}};
  CHECK_THROWS_WITH(cfg.validate(false), Catch::Contains("reward.external_command"));
  cfg.weights = {{"math", 1.0}, {"overlong", 1.0}};
  CHECK_THROWS_WITH(cfg.validate(false), Catch::Contains("reward.overlong_buffer"));
  cfg.weights.clear();
  CHECK_THROWS_WITH(cfg.validate(false), Catch::Contains("empty"));
}

namespace {

// A small program in python3 (Debian's; the code sandbox needs it anyway) answering per the completion text, in a
// temporary directory removed when the tests end.
std::string write_program(const std::string& body) {
  static grpo::test::TempDir dir("grpo_ext");
  static int n = 0;
  return "python3 -u " + dir.file("program" + std::to_string(n++) + ".py", body);
}

// Whether a process is gone (or a zombie waiting to be reaped by init).
bool process_gone(long pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return true;
  const auto close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() && line[close + 2] == 'Z';
}

const char* kProgram = R"(import json, sys, time, os
for line in sys.stdin:
    req = json.loads(line)
    c = req["completion"]
    if c == "crash":
        os._exit(3)
    if c == "hang":
        time.sleep(60)
    if c == "garbage":
        print("not a number")
        continue
    if c == "spawn":  # a child in the background, then a crash: the restart must not leave the child running
        import subprocess
        child = subprocess.Popen(["sleep", "60"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "child.pid"), "w").write(str(child.pid))
        os._exit(2)
    if c == "verdict":
        print(json.dumps({"reward": 0.25, "verdict": "unparsable", "detail": "custom"}))
        continue
    # reward: 1 when the completion equals meta's answer; echo the prompt's length as a check
    print(1.0 if c == req["meta"].get("answer") else 0.0 if req["prompt"] == "P" else -7)
)";

}  // namespace

TEST_CASE("the external reward: answers, crash, hang and garbage become Scores and the program restarts", "[cpu]") {
  ExternalRewardConfig cfg;
  cfg.command = write_program(kProgram);
  cfg.timeout_seconds = 1.0;
  ExternalReward ext(cfg);
  const Meta meta = {{"answer", "42"}, {"__prompt", "P"}};
  Score ok = ext.score("42", meta);
  CHECK(ok.value == 1.0);
  CHECK(ok.verdict == Verdict::ok);
  Score wrong = ext.score("41", meta);
  CHECK(wrong.value == 0.0);
  CHECK(wrong.verdict == Verdict::wrong);
  Score v = ext.score("verdict", meta);
  CHECK(v.value == 0.25);
  CHECK(v.verdict == Verdict::unparsable);
  CHECK(v.detail == "custom");
  Score crash = ext.score("crash", meta);
  CHECK(crash.verdict == Verdict::internal_error);
  CHECK(crash.detail.find("exited with status 3") != std::string::npos);
  CHECK(ext.score("42", meta).verdict == Verdict::ok);  // restarted
  auto t0 = std::chrono::steady_clock::now();
  Score hang = ext.score("hang", meta);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  CHECK(hang.verdict == Verdict::timeout);
  CHECK(secs < 5.0);
  CHECK(ext.score("42", meta).verdict == Verdict::ok);
  Score spawn = ext.score("spawn", meta);
  CHECK(spawn.verdict == Verdict::internal_error);
  const std::string pid_file = cfg.command.substr(cfg.command.rfind(' ') + 1);
  std::ifstream pid_in(fs::path(pid_file).parent_path() / "child.pid");
  long child = 0;
  REQUIRE(pid_in >> child);
  CHECK(ext.score("42", meta).verdict == Verdict::ok);  // restarted
  bool gone = false;
  for (int i = 0; i < 100 && !gone; ++i) {
    gone = process_gone(child);
    if (!gone) ::usleep(10000);
  }
  CHECK(gone);  // the background child died with its process group
  Score garbage = ext.score("garbage", meta);
  CHECK(garbage.verdict == Verdict::internal_error);
  CHECK(garbage.detail.find("not a number") != std::string::npos);
  CHECK(garbage.detail.find("restarted") != std::string::npos);
  CHECK(ext.score("42", meta).verdict == Verdict::ok);
  CHECK(ext.restarts() == 4);
  // A command that does not start at all: every request is scored, none throws.
  ExternalRewardConfig missing = cfg;
  missing.command = "/nonexistent/reward-program";
  ExternalReward none(missing);
  Score s = none.score("42", meta);
  CHECK(s.verdict == Verdict::internal_error);
  CHECK(s.detail.find("exited with status 127") != std::string::npos);
}

TEST_CASE("the external reward through the pool and a mixture", "[cpu]") {
  ExternalRewardConfig ecfg;
  ecfg.command = write_program(kProgram);
  ecfg.timeout_seconds = 2.0;
  auto ext = std::make_shared<ExternalReward>(ecfg);
  ScorePool pool;
  pool.add_checker(kExternalComponent, [ext](std::string_view c, const Meta& m) { return ext->score(c, m); });
  RewardMixConfig cfg;
  cfg.weights = {{"external", 2.0}};
  REQUIRE_NOTHROW(cfg.validate(true));
  const Meta meta = {{"answer", "42"}, {"__prompt", "P"}};
  std::vector<MixRequest> req;
  for (const char* c : {"42", "crash", "41", "42", "garbage", "42"}) req.push_back({c, &meta, 2, 10});
  auto s = score_mix(pool, cfg, req);
  REQUIRE(s.size() == 6);
  CHECK(s[0].value == 2.0);
  CHECK(s[1].verdict == Verdict::internal_error);
  CHECK(s[2].value == 0.0);
  CHECK(s[3].verdict == Verdict::ok);
  CHECK(s[4].verdict == Verdict::internal_error);
  CHECK(s[5].value == 2.0);
}
