// Test harnesses over the sandbox: the trusted-harness + solution-server pair for assert-style tests,
// and one sandboxed run per stdin/stdout case. Reading the results is the only trusted decision here.
#include "rewards/code/harness.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/random.h>
#include <unistd.h>

#include <cstdio>
#include <utility>

#include <nlohmann/json.hpp>

#include "rewards/code/harness_py.h"

namespace grpo::rewards::code {
namespace {

Score make_score(Verdict verdict, std::string detail) {
  Score s;
  const bool ok = verdict == Verdict::ok;
  s.value = ok ? 1.0 : 0.0;
  s.components = {{"correct", ok ? 1.0 : 0.0}};
  s.verdict = verdict;
  s.detail = std::move(detail);
  return s;
}

// The text shown in a detail: at most max_chars, control bytes escaped, one line.
std::string shown(std::string_view text, size_t max_chars = 160) {
  std::string out;
  for (char c : text) {
    if (out.size() >= max_chars) {
      out += "...";
      break;
    }
    const auto u = static_cast<unsigned char>(c);
    if (u == '\n') {
      out += "\\n";
    } else if (u < 0x20 || u == 0x7f) {
      char esc[8];
      std::snprintf(esc, sizeof esc, "\\x%02x", u);
      out += esc;
    } else {
      out += c;
    }
  }
  return out;
}

std::string tail(const std::string& text, size_t n = 300) {
  std::string t = text.size() > n ? text.substr(text.size() - n) : text;
  while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.pop_back();
  return shown(t, n);
}

std::string random_token() {
  unsigned char bytes[16];
  size_t got = 0;
  while (got < sizeof bytes) {
    ssize_t n = getrandom(bytes + got, sizeof bytes - got, 0);
    if (n > 0) got += static_cast<size_t>(n);
  }
  std::string hex;
  char two[3];
  for (unsigned char b : bytes) {
    std::snprintf(two, sizeof two, "%02x", b);
    hex += two;
  }
  return hex;
}

// CPU limit: SIGXCPU at the soft limit, SIGKILL at the hard one (when the program ignores SIGXCPU).
bool hit_cpu_limit(const SandboxResult& r) {
  return r.term_signal == SIGXCPU || (r.term_signal == SIGKILL && !r.timed_out && !r.killed_by_run && !r.output_exceeded);
}

bool starts_with(const std::string& s, std::string_view prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

}  // namespace

std::string normalize_output(std::string_view text) {
  std::string out;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r' ||
                             line.back() == '\v' || line.back() == '\f')) {
      line.remove_suffix(1);
    }
    out.append(line);
    out += '\n';
    pos = end + 1;
  }
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

Score run_io_cases(std::string_view program, const std::vector<IoCase>& cases, const SandboxConfig& cfg) {
  for (size_t i = 0; i < cases.size(); ++i) {
    SandboxCommand cmd;
    cmd.argv = {cfg.python, "-I", "-c", py::kStdioBootstrap};
    cmd.inputs = {{0, cases[i].input}, {3, std::string(program)}};
    cmd.outputs = {4};
    SandboxResult r = run_sandboxed(std::move(cmd), cfg);
    const std::string where = "case " + std::to_string(i + 1) + " of " + std::to_string(cases.size()) + ": ";
    const std::string& status = r.output[4];
    if (!r.sandbox_error.empty()) return make_score(Verdict::sandbox_error, where + r.sandbox_error);
    if (!starts_with(status, "started\n")) {
      return make_score(Verdict::sandbox_error, where + "the interpreter did not start: " + tail(r.output[2]));
    }
    size_t bad = status.find("\nunparsable ");
    if (bad != std::string::npos) return make_score(Verdict::unparsable, tail(status.substr(bad + 12)));
    if (r.timed_out) return make_score(Verdict::timeout, where + "wall-clock limit");
    if (hit_cpu_limit(r)) return make_score(Verdict::timeout, where + "CPU time limit");
    if (r.output_exceeded) return make_score(Verdict::wrong, where + "output over the limit");
    if (status.find("\ncompiled\n") == std::string::npos) {
      return make_score(Verdict::wrong, where + "the program could not be compiled: " + tail(r.output[2]));
    }
    if (r.exit_code != 0) {
      std::string how = r.term_signal ? "killed by signal " + std::to_string(r.term_signal)
                                      : "exit status " + std::to_string(r.exit_code);
      return make_score(Verdict::wrong, where + how + ": " + tail(r.output[2]));
    }
    const std::string got = normalize_output(r.output[1]);
    const std::string want = normalize_output(cases[i].output);
    if (got != want) {
      return make_score(Verdict::wrong, where + "expected \"" + shown(want, 80) + "\", got \"" + shown(got, 80) + "\"");
    }
  }
  return make_score(Verdict::ok, "passed " + std::to_string(cases.size()) + " cases");
}

Score run_call_tests(std::string_view program, std::string_view tests, std::string_view entry_point,
                     const SandboxConfig& cfg) {
  const std::string token = random_token();
  const nlohmann::json config = {{"token", token},
                                 {"source", std::string(program)},
                                 {"tests", std::string(tests)},
                                 {"entry_point", std::string(entry_point)},
                                 {"max_reply_bytes", cfg.max_output_bytes}};
  int req[2], rep[2];
  if (pipe2(req, O_CLOEXEC) < 0) return make_score(Verdict::sandbox_error, "pipe2 failed");
  if (pipe2(rep, O_CLOEXEC) < 0) {
    close(req[0]);
    close(req[1]);
    return make_score(Verdict::sandbox_error, "pipe2 failed");
  }
  std::vector<SandboxCommand> cmds(2);
  SandboxCommand& harness = cmds[0];
  harness.argv = {cfg.python, "-I", "-c", std::string(py::kCodec) + py::kHarness};
  harness.inputs = {{0, config.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)}};
  harness.outputs = {3};
  harness.pass_fds = {{req[1], 4}, {rep[0], 5}};
  harness.trusted = true;
  harness.ends_run = true;
  SandboxCommand& solution = cmds[1];
  solution.argv = {cfg.python, "-I", "-c", std::string(py::kCodec) + py::kServer};
  solution.outputs = {5};
  solution.pass_fds = {{req[0], 3}, {rep[1], 4}};
  std::vector<SandboxResult> rs = run_sandboxed(std::move(cmds), cfg);
  SandboxResult& h = rs[0];
  SandboxResult& s = rs[1];

  if (!h.sandbox_error.empty() || !s.sandbox_error.empty()) {
    return make_score(Verdict::sandbox_error, h.sandbox_error.empty() ? s.sandbox_error : h.sandbox_error);
  }
  const std::string& channel = h.output[3];
  if (!starts_with(channel, token + " started\n")) {
    return make_score(Verdict::sandbox_error, "the test harness did not start: " + tail(h.output[2]));
  }
  std::string kind, detail;
  size_t line = channel.find('\n') + 1;
  size_t eol = channel.find('\n', line);
  if (eol != std::string::npos && starts_with(channel.substr(line), token + " ")) {
    std::string rest = channel.substr(line + token.size() + 1, eol - line - token.size() - 1);
    size_t space = rest.find(' ');
    kind = rest.substr(0, space);
    auto parsed = nlohmann::json::parse(space == std::string::npos ? "\"\"" : rest.substr(space + 1), nullptr, false);
    if (parsed.is_string()) detail = parsed.get<std::string>();
  }
  if (kind == "pass") return make_score(Verdict::ok, "all tests passed");
  if (kind == "unparsable") return make_score(Verdict::unparsable, detail);
  if (kind == "invalid_tests") return make_score(Verdict::invalid_input, "the tests do not compile: " + detail);
  if (!starts_with(s.output[5], "started\n") && !s.timed_out) {
    return make_score(Verdict::sandbox_error, "the solution process did not start: " + tail(s.output[2]));
  }
  if (h.timed_out || s.timed_out) return make_score(Verdict::timeout, "wall-clock limit");
  if (hit_cpu_limit(s)) return make_score(Verdict::timeout, "CPU time limit");
  if (s.output_exceeded) return make_score(Verdict::wrong, "the solution printed more than the output limit");
  if (kind == "fail") return make_score(Verdict::wrong, detail);
  return make_score(Verdict::wrong, "the test harness ended without a verdict (exit status " +
                                        std::to_string(h.exit_code) + "): " + tail(h.output[2]));
}

}  // namespace grpo::rewards::code
