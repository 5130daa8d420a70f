// grpo launch; see launch.h.
#include "recipes/launch.h"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "kernels/check.h"
#include "recipes/cli_args.h"

namespace grpo::recipes {

namespace {

const char* kUsage = "grpo launch --nproc N [--master-port P] [--grace S] -- COMMAND [ARGS...]";
const char* kDetails =
    "Starts N ranks of `grpo COMMAND ARGS...` on this machine (e.g. -- train recipes/countdown-tiny.toml), each with\n"
    "RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR=127.0.0.1 and MASTER_PORT (a free port unless\n"
    "--master-port) set, as torchrun does; rank 0 prints and writes the run directory. Ctrl-C is passed to every rank.\n"
    "If a rank fails, the others get SIGTERM, and SIGKILL after --grace seconds (default 10). Exit status: 0 when all\n"
    "succeed, 130 when interrupted, else the first failing rank's.\n";

volatile sig_atomic_t g_signal = 0;
void on_signal(int sig) { g_signal = sig; }

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  GRPO_CHECK(fd >= 0, "grpo launch: cannot open a socket to find a free port: ", std::strerror(errno));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof(a);
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0;
  ::close(fd);
  GRPO_CHECK(ok, "grpo launch: cannot find a free port; hint: pass --master-port");
  return ntohs(a.sin_port);
}

std::string describe(int status) {
  if (WIFEXITED(status)) return "exit status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("signal ") + strsignal(WTERMSIG(status));
  return "status " + std::to_string(status);
}

}  // namespace

int run_launch(int argc, char** argv) {
  int split = -1;
  for (int i = 0; i < argc; ++i) {
    if (std::strcmp(argv[i], "--") == 0) {
      split = i;
      break;
    }
  }
  Args a = parse_args(split < 0 ? argc : split, argv, "launch", {"--nproc", "--master-port", "--grace"}, {}, kUsage,
                      kDetails);
  GRPO_CHECK(split >= 0 && split + 1 < argc, "grpo launch: name the command after --; usage: ", kUsage);
  const int64_t n = a.get_count("--nproc", 0, "launch");
  GRPO_CHECK(n >= 1, "grpo launch: --nproc N is required; usage: ", kUsage);
  const int64_t port = a.has("--master-port") ? a.get_integer("--master-port", 0, "launch", 1) : free_port();
  GRPO_CHECK(port <= 65535, "grpo launch: --master-port must be at most 65535");
  const double grace = a.get_number("--grace", 10.0, "launch");

  std::vector<std::string> args = {"grpo"};
  for (int i = split + 1; i < argc; ++i) args.emplace_back(argv[i]);
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);

  std::vector<pid_t> pids;
  for (int64_t r = 0; r < n; ++r) {
    pid_t p = ::fork();
    GRPO_CHECK(p >= 0, "grpo launch: fork failed: ", std::strerror(errno));
    if (p == 0) {
      ::setenv("RANK", std::to_string(r).c_str(), 1);
      ::setenv("LOCAL_RANK", std::to_string(r).c_str(), 1);
      ::setenv("WORLD_SIZE", std::to_string(n).c_str(), 1);
      ::setenv("LOCAL_WORLD_SIZE", std::to_string(n).c_str(), 1);
      ::setenv("MASTER_ADDR", "127.0.0.1", 1);
      ::setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
      std::vector<char*> cargv;
      for (auto& s : args) cargv.push_back(s.data());
      cargv.push_back(nullptr);
      ::execv("/proc/self/exe", cargv.data());
      std::fprintf(stderr, "grpo launch: rank %lld: cannot run grpo: %s\n", static_cast<long long>(r), std::strerror(errno));
      _exit(127);
    }
    pids.push_back(p);
  }
  std::fprintf(stderr, "grpo launch: %lld ranks on 127.0.0.1:%lld\n", static_cast<long long>(n), static_cast<long long>(port));

  std::vector<int> status(static_cast<size_t>(n), -1);
  int64_t running = n, failed = -1;
  auto stop_at = std::chrono::steady_clock::time_point::max();
  bool killed = false, forwarded = false;
  while (running > 0) {
    if (g_signal != 0 && !forwarded) {  // Ctrl-C or SIGTERM: every rank gets it once (a second one kills them)
      for (size_t i = 0; i < pids.size(); ++i) {
        if (status[i] < 0) ::kill(pids[i], g_signal);
      }
      forwarded = true;
      g_signal = 0;
    } else if (g_signal != 0) {
      for (size_t i = 0; i < pids.size(); ++i) {
        if (status[i] < 0) ::kill(pids[i], SIGKILL);
      }
    }
    int st = 0;
    pid_t p = ::waitpid(-1, &st, WNOHANG);
    if (p > 0) {
      for (size_t i = 0; i < pids.size(); ++i) {
        if (pids[i] != p) continue;
        status[i] = st;
        --running;
        const bool ok = WIFEXITED(st) && (WEXITSTATUS(st) == 0 || WEXITSTATUS(st) == 130);
        if (!ok && failed < 0) {
          failed = static_cast<int64_t>(i);
          std::fprintf(stderr, "grpo launch: rank %zu ended with %s; stopping the other ranks\n", i, describe(st).c_str());
          for (size_t j = 0; j < pids.size(); ++j) {
            if (status[j] < 0) ::kill(pids[j], SIGTERM);
          }
          stop_at = std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<int64_t>(grace * 1000));
        }
      }
      continue;
    }
    if (!killed && std::chrono::steady_clock::now() > stop_at) {
      for (size_t j = 0; j < pids.size(); ++j) {
        if (status[j] < 0) ::kill(pids[j], SIGKILL);
      }
      killed = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (failed >= 0) {
    const int st = status[static_cast<size_t>(failed)];
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  }
  for (int st : status) {
    if (WEXITSTATUS(st) == 130) return 130;
  }
  return 0;
}

}  // namespace grpo::recipes
