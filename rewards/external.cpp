// The external reward program: one child process over two pipes, restarted after a crash or a hang; see external.h.
#include "rewards/external.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>

#include <nlohmann/json.hpp>

#include "kernels/check.h"

extern char** environ;

namespace grpo::rewards {

namespace {

constexpr size_t kMaxAnswerBytes = 1 << 20;

using Clock = std::chrono::steady_clock;

Score make_score(Verdict v, double value, std::string detail) {
  Score s;
  s.value = value;
  s.verdict = v;
  s.detail = std::move(detail);
  return s;
}

int remaining_ms(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left <= 0 ? 0 : static_cast<int>(std::min<int64_t>(left, 1 << 30));
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "was killed by signal " + std::to_string(WTERMSIG(status));
  return "stopped";
}

// The answer line as a Score, or an internal_error naming what was wrong with it.
Score parse_answer(const std::string& line) {
  auto garbage = [&](const std::string& why) {
    std::string shown = line.substr(0, 80);
    return make_score(Verdict::internal_error, 0.0,
                      "external reward: the program printed '" + shown + (line.size() > 80 ? "...'" : "'") + " (" +
                          why + "); hint: print one line per request: a number or {\"reward\": x}");
  };
  const nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return garbage("not JSON");
  double value = 0;
  Verdict verdict = Verdict::wrong;
  std::string detail;
  if (j.is_number()) {
    value = j.get<double>();
  } else if (j.is_object() && j.contains("reward") && j["reward"].is_number()) {
    value = j["reward"].get<double>();
    if (j.contains("detail") && j["detail"].is_string()) detail = j["detail"].get<std::string>();
    if (j.contains("verdict")) {
      if (!j["verdict"].is_string()) return garbage("\"verdict\" is not a string");
      const std::string name = j["verdict"].get<std::string>();
      bool known = false;
      for (Verdict v : {Verdict::ok, Verdict::wrong, Verdict::unparsable, Verdict::timeout, Verdict::sandbox_error,
                        Verdict::invalid_input, Verdict::internal_error}) {
        if (name == verdict_name(v)) verdict = v, known = true;
      }
      if (!known) return garbage("unknown verdict '" + name + "'");
      if (!std::isfinite(value)) return garbage("the reward is not finite");
      return make_score(verdict, value, detail.empty() ? "external reward" : detail);
    }
  } else {
    return garbage("not a number or an object with a numeric \"reward\"");
  }
  if (!std::isfinite(value)) return garbage("the reward is not finite");
  verdict = value > 0 ? Verdict::ok : Verdict::wrong;
  return make_score(verdict, value, detail.empty() ? "external reward" : detail);
}

}  // namespace

struct ExternalReward::Process {
  pid_t pid = -1;   // the shell, while not reaped
  pid_t pgid = -1;  // its process group (the shell's pid): whatever it started, killed with it
  int to_child = -1, from_child = -1;
  std::string buffer;  // bytes read past the last answer line

  ~Process() { stop(); }
  void stop() {
    if (to_child >= 0) ::close(to_child);
    if (from_child >= 0) ::close(from_child);
    to_child = from_child = -1;
    // NOTE: the group is killed even when the shell itself has exited: a program it started in the background must
    // not outlive the restart.
    if (pgid > 0) ::kill(-pgid, SIGKILL);
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      int status = 0;
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      pid = -1;
    }
  }
  // The exit status after EOF (waits a moment for the child to finish dying).
  std::string reap() {
    if (pid <= 0) return "exited";
    int status = 0;
    pid_t r = 0;
    for (int i = 0; i < 100 && (r = ::waitpid(pid, &status, WNOHANG)) == 0; ++i) ::usleep(10000);
    if (r == pid) {
      pid = -1;
      return describe_status(status);
    }
    return "closed its stdout";
  }
};

ExternalReward::ExternalReward(ExternalRewardConfig cfg) : cfg_(std::move(cfg)) {
  GRPO_CHECK(!cfg_.command.empty(), "external reward: no command; hint: set reward.external_command");
  GRPO_CHECK(cfg_.timeout_seconds > 0, "reward.external_timeout must be > 0 seconds, got ", cfg_.timeout_seconds);
  // NOTE: a program that dies while we write to it must not kill the trainer with SIGPIPE; writes then fail
  // with EPIPE, which is handled as a crash.
  ::signal(SIGPIPE, SIG_IGN);
}

ExternalReward::~ExternalReward() = default;

Score ExternalReward::score(std::string_view completion, const Meta& meta) {
  nlohmann::json m = nlohmann::json::object();
  std::string prompt;
  for (const auto& [k, v] : meta) {
    if (k == kPromptMetaKey) {
      prompt = v;
    } else {
      m[k] = v;
    }
  }
  const nlohmann::json req = {{"prompt", prompt}, {"completion", std::string(completion)}, {"meta", m}};
  const std::string line = req.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  std::lock_guard<std::mutex> lock(mu_);
  return exchange(line);
}

Score ExternalReward::exchange(const std::string& line) {
  if (!proc_) {
    auto p = std::make_unique<Process>();
    int in_pipe[2], out_pipe[2];
    if (::pipe2(in_pipe, O_CLOEXEC) != 0) return make_score(Verdict::internal_error, 0, "external reward: pipe failed");
    if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
      ::close(in_pipe[0]), ::close(in_pipe[1]);
      return make_score(Verdict::internal_error, 0, "external reward: pipe failed");
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in_pipe[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setpgroup(&attr, 0);
    sigset_t def;
    sigemptyset(&def);
    sigaddset(&def, SIGPIPE);
    posix_spawnattr_setsigdefault(&attr, &def);
    const char* argv[] = {"/bin/sh", "-c", cfg_.command.c_str(), nullptr};
    const int rc = posix_spawn(&p->pid, "/bin/sh", &fa, &attr, const_cast<char* const*>(argv), environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    ::close(in_pipe[0]);
    ::close(out_pipe[1]);
    p->to_child = in_pipe[1];
    p->from_child = out_pipe[0];
    if (rc != 0) {
      p->pid = -1;
      p->pgid = -1;
      return make_score(Verdict::internal_error, 0, "external reward: cannot start /bin/sh: " + std::string(std::strerror(rc)));
    }
    p->pgid = p->pid;  // POSIX_SPAWN_SETPGROUP with 0: the child leads a new group
    ::fcntl(p->to_child, F_SETFL, O_NONBLOCK);
    ::fcntl(p->from_child, F_SETFL, O_NONBLOCK);
    if (starts_++ > 0) ++restarts_;
    proc_ = std::move(p);
  }
  Process& p = *proc_;
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                           std::chrono::duration<double>(cfg_.timeout_seconds));
  auto hung = [&] {
    proc_.reset();  // kills the group
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%g", cfg_.timeout_seconds);
    return make_score(Verdict::timeout, 0, std::string("external reward: no answer within ") + buf +
                                               " s (reward.external_timeout); the program was restarted");
  };
  auto crashed = [&] {
    const std::string how = p.reap();
    proc_.reset();
    return make_score(Verdict::internal_error, 0, "external reward: the program " + how + " (`" + cfg_.command +
                                                      "`); it is started again for the next request");
  };
  for (size_t sent = 0; sent < line.size();) {
    pollfd pfd{p.to_child, POLLOUT, 0};
    const int r = ::poll(&pfd, 1, remaining_ms(deadline));
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) return hung();
    if (pfd.revents & (POLLERR | POLLHUP)) return crashed();
    const ssize_t n = ::write(p.to_child, line.data() + sent, line.size() - sent);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n < 0) return crashed();
    sent += static_cast<size_t>(n);
  }
  while (true) {
    const auto nl = p.buffer.find('\n');
    if (nl != std::string::npos) {
      std::string answer = p.buffer.substr(0, nl);
      p.buffer.erase(0, nl + 1);
      if (!answer.empty() && answer.back() == '\r') answer.pop_back();
      Score s = parse_answer(answer);
      if (s.verdict == Verdict::internal_error) {
        // NOTE: a line that is not an answer (a banner, a debug print) would shift every later answer onto the wrong
        // request; restarting keeps requests and answers in step.
        proc_.reset();
        s.detail += "; the program was restarted";
      }
      return s;
    }
    if (p.buffer.size() > kMaxAnswerBytes) {
      proc_.reset();
      return make_score(Verdict::internal_error, 0, "external reward: an answer line longer than 1 MiB; the program "
                                                     "was restarted");
    }
    pollfd pfd{p.from_child, POLLIN, 0};
    const int r = ::poll(&pfd, 1, remaining_ms(deadline));
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) return hung();
    char buf[65536];
    const ssize_t n = ::read(p.from_child, buf, sizeof(buf));
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n <= 0) return crashed();
    p.buffer.append(buf, static_cast<size_t>(n));
  }
}

}  // namespace grpo::rewards
