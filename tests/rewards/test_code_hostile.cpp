// The hostile suite: every program in tests/rewards/hostile/ must end as wrong or timeout within its
// deadline, leave no process, descriptor or file behind, and the calling process must keep working.
// Each file's header names its style (call: HumanEval check(candidate); asserts: MBPP top-level
// asserts; stdio: stdin/stdout cases) and the verdict expected (wrong, timeout, or fail = either).
// The task is always "add two integers", and no hostile program adds correctly unless an attack works.
#include <sys/prctl.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>

#include "rewards/code/code_reward.h"
#include "test_code_util.h"
#include "tests/shared_data.h"

using grpo::rewards::Score;
using grpo::rewards::Verdict;
using grpo::rewards::verdict_name;
using namespace grpo::rewards::code;

namespace {

struct Hostile {
  std::string name, mode, expect, source;
};

std::string header_field(const std::string& source, const std::string& key) {
  const std::string tag = "# " + key + ": ";
  size_t at = source.find(tag);
  if (at == std::string::npos) return "";
  at += tag.size();
  return source.substr(at, source.find('\n', at) - at);
}

std::vector<Hostile> load_hostile() {
  const std::string dir = grpo::test::source_path("tests/rewards/hostile");
  auto names = grpo_test::list_dir(dir);
  std::sort(names.begin(), names.end());
  std::vector<Hostile> programs;
  for (const auto& name : names) {
    if (name.size() < 4 || name.compare(name.size() - 3, 3, ".py") != 0) continue;
    std::string source = grpo_test::read_file(dir + "/" + name);
    programs.push_back({name, header_field(source, "mode"), header_field(source, "expect"), source});
  }
  return programs;
}

CodeTask task_for(const std::string& mode) {
  if (mode == "call") {
    return {"def check(candidate):\n    assert candidate(2, 3) == 5\n    assert candidate(-4, 4) == 0\n"
            "    assert candidate(10 ** 20, 1) == 10 ** 20 + 1\n",
            "add",
            {}};
  }
  if (mode == "asserts") return {"assert add(2, 3) == 5\nassert add(-4, 4) == 0\n", "", {}};
  return {"", "", {{"2 3\n", "5\n"}, {"10 -4\n", "6\n"}}};
}

SandboxConfig hostile_config(BwrapUse use) {
  SandboxConfig cfg;
  cfg.cpu_seconds = 2;
  cfg.wall_seconds = 3;
  cfg.memory_mb = 512;
  cfg.max_processes = 32;
  cfg.max_file_mb = 16;
  cfg.max_open_files = 64;
  cfg.max_output_bytes = 256 << 10;
  cfg.use_bwrap = use;
  return cfg;
}

// Runs the programs (two at a time) and checks each verdict and its time.
void run_suite(const std::vector<Hostile>& programs, const SandboxConfig& cfg) {
  std::vector<Score> scores(programs.size());
  std::vector<double> seconds(programs.size());
  grpo_test::parallel_for(programs.size(), 2, [&](size_t i) {
    auto t0 = std::chrono::steady_clock::now();
    scores[i] = score_code(programs[i].source, task_for(programs[i].mode), cfg);
    seconds[i] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  });
  for (size_t i = 0; i < programs.size(); ++i) {
    const Hostile& h = programs[i];
    const Verdict v = scores[i].verdict;
    std::printf("hostile %-28s %-8s %-7s %5.2f s  %s\n", h.name.c_str(), h.mode.c_str(), verdict_name(v), seconds[i],
                scores[i].detail.substr(0, 90).c_str());
    INFO(h.name << " (" << h.mode << "): " << verdict_name(v) << ": " << scores[i].detail);
    if (h.expect == "wrong") {
      CHECK(v == Verdict::wrong);
    } else if (h.expect == "timeout") {
      CHECK(v == Verdict::timeout);
    } else {
      CHECK((v == Verdict::wrong || v == Verdict::timeout));
    }
    // Each stdin/stdout case and each call run has its own deadline; killing takes at most a moment.
    const double cases = h.mode == "stdio" ? 2.0 : 1.0;
    CHECK(seconds[i] < cases * cfg.wall_seconds + 2.5);
  }
}

void check_nothing_left(size_t fds_before) {
  const auto left = grpo_test::descendants_of(getpid());
  for (const auto& proc : left) UNSCOPED_INFO("left behind: " << proc);
  CHECK(left.empty());
  CHECK(grpo_test::count_open_fds() == fds_before);
  CHECK(grpo_test::tmp_entries("grpo-sandbox-" + std::to_string(getpid()) + "-").empty());
  CHECK(grpo_test::tmp_entries("grpo_hostile_marker").empty());
  for (const char* path : {"/grpo_hostile_marker", "/usr/grpo_hostile_marker", "/etc/grpo_hostile_marker",
                           "/root/grpo_hostile_marker", "/dev/shm/grpo_hostile_marker", "/var/tmp/grpo_hostile_marker"}) {
    INFO(path);
    CHECK(access(path, F_OK) != 0);
  }
  // The caller still works: a trivial program passes.
  Score s = score_code("def add(a, b):\n    return a + b\n", task_for("call"), hostile_config(BwrapUse::auto_detect));
  CHECK(s.verdict == Verdict::ok);
}

}  // namespace

TEST_CASE("code: hostile programs fail or time out and leave nothing behind", "[cpu][slow]") {
  const auto programs = load_hostile();
  REQUIRE(programs.size() >= 30);
  for (const auto& h : programs) {
    INFO(h.name);
    CHECK((h.mode == "call" || h.mode == "asserts" || h.mode == "stdio"));
    CHECK((h.expect == "wrong" || h.expect == "timeout" || h.expect == "fail"));
  }
  const SandboxConfig cfg = hostile_config(BwrapUse::always);
  if (!bwrap_works(cfg)) {
    WARN("bubblewrap cannot create namespaces here: the hostile suite needs it (see the no-bwrap subset)");
    return;
  }
  // NOTE: as a child subreaper, this process inherits anything that escapes its sandbox's process tree,
  // so descendants_of() would see it.
  REQUIRE(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
  const size_t fds_before = grpo_test::count_open_fds();
  run_suite(programs, cfg);
  check_nothing_left(fds_before);
  prctl(PR_SET_CHILD_SUBREAPER, 0);
}

TEST_CASE("code: without bwrap, rlimits + seccomp + process-group kill still contain the worst programs",
          "[cpu][slow]") {
  // NOTE: without namespaces a program can read and write what nobody may; only programs whose attack
  // the fallback is meant to stop run here.
  const std::vector<std::string> subset = {
      "fork_bomb.py",      "infinite_loop.py", "busy_threads.py",  "leaked_zombies.py", "daemon_stdio.py",
      "exec_shell.py",     "setsid_escape.py", "kill_parent.py",   "eq_always_true.py", "fake_token_fds.py",
      "sys_exit_early.py", "forge_replies.py", "raise_rlimits.py", "ptrace.py",         "network_connect.py"};
  std::vector<Hostile> programs;
  for (const auto& h : load_hostile()) {
    if (std::find(subset.begin(), subset.end(), h.name) != subset.end()) programs.push_back(h);
  }
  REQUIRE(programs.size() == subset.size());
  const size_t fds_before = grpo_test::count_open_fds();
  run_suite(programs, hostile_config(BwrapUse::never));
  check_nothing_left(fds_before);
}
