// rewards/code/sandbox: what a sandboxed command sees (namespaces, uid, limits, descriptors), the
// wall-clock kill of a whole tree, capped output, large inputs, ends_run, and the no-bwrap fallback.
#include <fcntl.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <nlohmann/json.hpp>

#include "kernels/check.h"
#include "rewards/code/sandbox.h"
#include "test_code_util.h"

using grpo::rewards::code::BwrapUse;
using grpo::rewards::code::run_sandboxed;
using grpo::rewards::code::SandboxCommand;
using grpo::rewards::code::SandboxConfig;
using grpo::rewards::code::SandboxResult;

namespace {

SandboxCommand python(const std::string& code, const SandboxConfig& cfg = {}) {
  SandboxCommand c;
  c.argv = {cfg.python, "-I", "-c", code};
  return c;
}

// What the sandbox looks like from inside, as JSON.
constexpr const char* kInspect = R"PY(
import errno, json, os, resource, socket, sys
out = {"uid": os.getuid(), "pid": os.getpid(), "hostname": os.uname().nodename, "root": sorted(os.listdir("/")),
       "fds": sorted(int(f) for f in os.listdir("/proc/self/fd")), "cwd": os.getcwd()}
try:
    open("/grpo_root_write", "w")
    out["root_writable"] = True
except OSError:
    out["root_writable"] = False
with open("tmpfile", "w") as f:
    out["cwd_writable"] = f.write("x") == 1
try:
    socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    out["socket"] = "allowed"
except OSError as e:
    out["socket"] = errno.errorcode[e.errno]
out["limits"] = {name: resource.getrlimit(getattr(resource, name))[0]
                 for name in ("RLIMIT_CPU", "RLIMIT_AS", "RLIMIT_NPROC", "RLIMIT_FSIZE", "RLIMIT_NOFILE")}
print(json.dumps(out))
)PY";

}  // namespace

TEST_CASE("sandbox: runs python with stdin, captures stdout and stderr, reports the exit status", "[cpu]") {
  SandboxCommand c = python("import sys; data = sys.stdin.read(); print(data.upper()); print('err', file=sys.stderr); sys.exit(3)");
  c.inputs = {{0, "hello"}};
  SandboxResult r = run_sandboxed(c, SandboxConfig{});
  REQUIRE(r.sandbox_error.empty());
  CHECK(r.exit_code == 3);
  CHECK(r.term_signal == 0);
  CHECK(r.output[1] == "HELLO\n");
  CHECK(r.output[2] == "err\n");
  CHECK_FALSE(r.timed_out);
}

TEST_CASE("sandbox: namespaces, nobody, no network, read-only root, private /tmp and the rlimits", "[cpu]") {
  SandboxConfig cfg;
  if (!grpo::rewards::code::bwrap_works(cfg)) {
    WARN("bubblewrap cannot create namespaces here; isolation not tested");
    return;
  }
  cfg.cpu_seconds = 3;
  cfg.memory_mb = 700;
  cfg.max_processes = 20;
  cfg.max_file_mb = 5;
  cfg.max_open_files = 40;
  const int leaked = open("/dev/null", O_RDONLY);  // no O_CLOEXEC on purpose: must not reach the sandbox
  SandboxResult r = run_sandboxed(python(kInspect, cfg), cfg);
  close(leaked);
  REQUIRE(r.sandbox_error.empty());
  INFO(r.output[2]);
  REQUIRE(r.exit_code == 0);
  CHECK(r.isolated);
  auto j = nlohmann::json::parse(r.output[1]);
  CHECK(j["uid"] == 65534);
  CHECK(j["pid"].get<int>() < 10);  // a fresh pid namespace
  CHECK(j["hostname"] == "sandbox");
  CHECK(j["root"] == nlohmann::json::array({"bin", "dev", "lib", "lib32", "lib64", "proc", "sbin", "tmp", "usr"}));
  CHECK(j["fds"] == nlohmann::json::array({0, 1, 2, 3}));  // 3: the listing itself
  CHECK(j["cwd"] == "/tmp");
  CHECK(j["root_writable"] == false);
  CHECK(j["cwd_writable"] == true);
  CHECK(j["socket"] == "EPERM");
  CHECK(j["limits"]["RLIMIT_CPU"] == 3);
  CHECK(j["limits"]["RLIMIT_AS"] == 700LL << 20);
  CHECK(j["limits"]["RLIMIT_NPROC"] == 20);
  CHECK(j["limits"]["RLIMIT_FSIZE"] == 5LL << 20);
  CHECK(j["limits"]["RLIMIT_NOFILE"] == 40);
}

TEST_CASE("sandbox: the deadline kills the whole process tree", "[cpu]") {
  SandboxConfig cfg;
  cfg.wall_seconds = 1.0;
  for (BwrapUse use : {BwrapUse::auto_detect, BwrapUse::never}) {
    cfg.use_bwrap = use;
    auto t0 = std::chrono::steady_clock::now();
    SandboxResult r = run_sandboxed(python("import os, time\nif os.fork() == 0:\n    time.sleep(1000)\ntime.sleep(1000)\n", cfg), cfg);
    double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    REQUIRE(r.sandbox_error.empty());
    CHECK(r.timed_out);
    CHECK(took < 1.0 + 3.0);
    CHECK(grpo_test::descendants_of(getpid()).empty());
  }
}

TEST_CASE("sandbox: output past max_output_bytes is cut and the command killed", "[cpu]") {
  SandboxConfig cfg;
  cfg.max_output_bytes = 100000;
  SandboxResult r = run_sandboxed(python("import sys\nwhile True:\n    sys.stdout.write('x' * 4096)\n", cfg), cfg);
  REQUIRE(r.sandbox_error.empty());
  CHECK(r.output_exceeded);
  CHECK(r.output[1].size() == 100000);
  CHECK_FALSE(r.timed_out);
}

TEST_CASE("sandbox: large inputs are streamed; input nobody reads does not hurt the caller", "[cpu]") {
  SandboxConfig cfg;
  SandboxCommand reader = python("import sys; print(len(sys.stdin.buffer.read()))", cfg);
  reader.inputs = {{0, std::string(4 << 20, 'a')}};
  SandboxResult r = run_sandboxed(reader, cfg);
  REQUIRE(r.sandbox_error.empty());
  CHECK(r.output[1] == std::to_string(4 << 20) + "\n");
  SandboxCommand ignorer = python("print('done')", cfg);  // exits without reading: our writes get EPIPE
  ignorer.inputs = {{0, std::string(4 << 20, 'a')}, {3, std::string(1 << 20, 'b')}};
  r = run_sandboxed(ignorer, cfg);
  REQUIRE(r.sandbox_error.empty());
  CHECK(r.exit_code == 0);
  CHECK(r.output[1] == "done\n");
}

TEST_CASE("sandbox: a command with ends_run ends the others; pass_fds connect commands", "[cpu]") {
  SandboxConfig cfg;
  int p[2];
  REQUIRE(pipe2(p, O_CLOEXEC) == 0);
  std::vector<SandboxCommand> cmds;
  cmds.push_back(python("import os; os.write(4, b'hi from 1'); import time; time.sleep(1000)", cfg));
  cmds[0].pass_fds = {{p[1], 4}};
  cmds.push_back(python("import os; print(os.read(3, 100).decode())", cfg));
  cmds[1].pass_fds = {{p[0], 3}};
  cmds[1].ends_run = true;
  auto t0 = std::chrono::steady_clock::now();
  auto rs = run_sandboxed(std::move(cmds), cfg);
  CHECK(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() < 5.0);
  CHECK(rs[1].output[1] == "hi from 1\n");
  CHECK(rs[0].killed_by_run);
  CHECK_FALSE(rs[0].timed_out);
}

TEST_CASE("sandbox: without bwrap, rlimits + seccomp + a private directory that is removed", "[cpu]") {
  SandboxConfig cfg;
  cfg.use_bwrap = BwrapUse::never;
  const size_t fds_before = grpo_test::count_open_fds();
  SandboxResult r = run_sandboxed(python(kInspect, cfg), cfg);
  REQUIRE(r.sandbox_error.empty());
  INFO(r.output[2]);
  REQUIRE(r.exit_code == 0);
  CHECK_FALSE(r.isolated);
  auto j = nlohmann::json::parse(r.output[1]);
  if (geteuid() == 0) CHECK(j["uid"].get<long>() >= 1500000000);  // a uid of its own
  CHECK(j["fds"] == nlohmann::json::array({0, 1, 2, 3}));
  CHECK(j["socket"] == "EPERM");
  CHECK(j["cwd"].get<std::string>().rfind("/tmp/grpo-sandbox-", 0) == 0);
  CHECK(j["limits"]["RLIMIT_NPROC"] == cfg.max_processes);
  CHECK(grpo_test::tmp_entries("grpo-sandbox-" + std::to_string(getpid()) + "-").empty());
  CHECK(grpo_test::count_open_fds() == fds_before);
}

TEST_CASE("sandbox: misuse throws with the field named", "[cpu]") {
  SandboxConfig cfg;
  cfg.wall_seconds = 0;
  CHECK_THROWS_WITH(grpo::rewards::code::validate_sandbox_config(cfg), Catch::Contains("wall_seconds"));
  cfg = SandboxConfig{};
  cfg.python = "python3";
  CHECK_THROWS_WITH(grpo::rewards::code::validate_sandbox_config(cfg), Catch::Contains("under /usr"));
  SandboxCommand c = python("pass");
  c.outputs = {1};
  CHECK_THROWS_AS(run_sandboxed(c, SandboxConfig{}), grpo::Error);
  c.outputs = {40};
  CHECK_THROWS_AS(run_sandboxed(c, SandboxConfig{}), grpo::Error);
}
