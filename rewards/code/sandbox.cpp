// Sandboxed runs: bubblewrap's arguments, the probe, and one poll loop that feeds inputs, captures outputs
// and kills whole process trees at the deadline (starting a process and the seccomp filter: spawn.cpp).
// NOTE on process trees: under bwrap the command is pid 1 of a new pid namespace (--as-pid-1). When it
// dies the kernel kills every other process of the namespace before it is reported dead, so a pidfd on
// it tells when the whole tree is gone. bwrap's own init is not used: bwrap exits on its status report
// without reaping it, which leaves a zombie for init (or for us, when we are a subreaper). Without bwrap
// the command leads its own session and the filter forbids setsid/setpgid, so kill(-pgid) reaches every
// descendant.
#include "rewards/code/sandbox.h"

#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <set>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "kernels/check.h"
#include "rewards/code/spawn.h"

namespace grpo::rewards::code {
namespace {

using Clock = std::chrono::steady_clock;
constexpr Clock::time_point kNever = Clock::time_point::max();

// Without bwrap, untrusted commands of a root caller run as a uid of their own from this range.
// NOTE: RLIMIT_NPROC counts per uid; a shared uid (nobody) would let one run's fork bomb, or its zombies
// not yet reaped by init, starve every other run. Own uids also keep runs from signalling each other.
constexpr uid_t kRunUidBase = 1500000000;
constexpr uid_t kRunUids = 1000000;
constexpr auto kKillGrace = std::chrono::seconds(3);      // killed processes must be gone by then
constexpr auto kEscalate = std::chrono::milliseconds(500);  // then bwrap itself is killed too
constexpr auto kEndRunGrace = std::chrono::milliseconds(250);  // others may exit by themselves first
constexpr auto kDrainGrace = std::chrono::milliseconds(500);  // reading outputs after the last exit
constexpr const char* kPrlimit = "/usr/bin/prlimit";     // util-linux; sets RLIMIT_NPROC inside bwrap


// ---- bubblewrap ------------------------------------------------------------------------------------

std::vector<std::string> bwrap_argv(const SandboxConfig& cfg, const std::vector<std::string>& argv, int info_fd,
                                    int seccomp_fd) {
  std::vector<std::string> a = {cfg.bwrap, "--unshare-user", "--unshare-pid", "--unshare-net", "--unshare-ipc",
                                "--unshare-uts", "--unshare-cgroup-try", "--uid", "65534", "--gid", "65534",
                                "--disable-userns", "--die-with-parent", "--new-session", "--as-pid-1", "--ro-bind", "/usr",
                                "/usr"};
  for (const char* dir : {"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"}) {
    char target[256];
    ssize_t n = readlink(dir, target, sizeof target);
    struct stat st;
    if (n > 0 && n < static_cast<ssize_t>(sizeof target)) {
      a.insert(a.end(), {"--symlink", std::string(target, static_cast<size_t>(n)), dir});  // merged /usr
    } else if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode)) {
      a.insert(a.end(), {"--ro-bind", dir, dir});
    }
  }
  const std::string tmp_bytes = std::to_string(static_cast<long long>(cfg.max_file_mb) << 20);
  a.insert(a.end(), {"--proc", "/proc", "--dev", "/dev", "--size", tmp_bytes, "--tmpfs", "/tmp", "--size",
                     "8388608", "--tmpfs", "/dev/shm", "--remount-ro", "/", "--remount-ro", "/dev", "--chdir", "/tmp", "--clearenv",
                     "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "HOME", "/tmp", "--setenv", "TMPDIR",
                     "/tmp", "--setenv", "LANG", "C.UTF-8", "--hostname", "sandbox", "--info-fd",
                     std::to_string(info_fd), "--seccomp", std::to_string(seccomp_fd), "--", kPrlimit,
                     "--nproc=" + std::to_string(cfg.max_processes), "--"});
  a.insert(a.end(), argv.begin(), argv.end());
  return a;
}

// bwrap writes {"child-pid": N, ...} to --info-fd once the namespace's pid 1 exists; -1 if it never does.
pid_t read_child_pid(int fd, Clock::time_point deadline) {
  std::string buf;
  while (buf.find('}') == std::string::npos && buf.size() < 4096) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) break;
    pollfd p{fd, POLLIN, 0};
    int r = poll(&p, 1, static_cast<int>(left));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    char tmp[512];
    ssize_t n = read(fd, tmp, sizeof tmp);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    buf.append(tmp, static_cast<size_t>(n));
  }
  size_t k = buf.find("\"child-pid\"");
  if (k == std::string::npos || (k = buf.find(':', k)) == std::string::npos) return -1;
  long pid = std::strtol(buf.c_str() + k + 1, nullptr, 10);
  return pid > 0 ? static_cast<pid_t>(pid) : -1;
}

// The parent pid of pid from /proc/<pid>/stat; -1 when it is gone.
pid_t parent_of(pid_t pid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
  Fd f(open(path, O_RDONLY | O_CLOEXEC));
  char buf[512];
  ssize_t n = f ? read(f.get(), buf, sizeof buf - 1) : -1;
  if (n <= 0) return -1;
  buf[n] = '\0';
  const char* close = std::strrchr(buf, ')');  // the command name may hold spaces and parentheses
  char state = 0;
  int parent = -1;
  if (close == nullptr || std::sscanf(close + 1, " %c %d", &state, &parent) != 2) return -1;
  return static_cast<pid_t>(parent);
}

// ---- one run ---------------------------------------------------------------------------------------

struct Stream {
  int child_fd = -1;
  Fd fd;                                // our end, non-blocking
  const std::string* data = nullptr;    // input: the bytes to write; output: nullptr
  size_t offset = 0;
};

struct Proc {
  pid_t pid = -1;
  Fd pidfd;                 // the spawned process: bwrap, or the command itself
  Fd inner;                 // under bwrap: the command, pid 1 of the new pid namespace
  bool inner_exited = false;
  bool reaped = true;
  Clock::time_point kill_at = kNever;  // when the kill was sent
  bool bwrap_failed = false;  // bwrap never reported a child pid: the sandbox did not start
  std::vector<Stream> streams;
  std::string workdir;      // without bwrap: a private directory, removed after the run
  bool finished() const { return reaped && !inner; }
};

int remove_entry(const char* path, const struct stat*, int, FTW*) {
  ::remove(path);
  return 0;
}

// Once both bwrap and its pid 1 have exited: should bwrap ever exit before reaping its pid 1, that
// process is re-parented to init, or to us when we are a subreaper; reap it if it is ours (else ECHILD).
void close_inner_when_done(Proc& p) {
  if (!p.reaped || !p.inner_exited) return;
  siginfo_t info;
  constexpr int kPidfdIdType = 3;  // P_PIDFD from linux/wait.h; glibc 2.36's idtype_t lacks it
  waitid(static_cast<idtype_t>(kPidfdIdType), static_cast<id_t>(p.inner.get()), &info, WEXITED | WNOHANG);
  p.inner.reset();
}

// Kills the command's whole tree. Under bwrap only the namespace's pid 1 (the command) is signalled: the
// kernel kills the rest of the namespace, bwrap reaps its child and exits by itself. NOTE: killing bwrap
// first would orphan that pid 1 and leave its zombie to init (or to us): bwrap is killed only if it lingers.
void kill_tree(Proc& p, bool isolated, Clock::time_point now) {
  if (p.kill_at == kNever) p.kill_at = now;
  if (isolated && p.inner) {
    pidfd_kill(p.inner.get());
  } else if (!p.reaped) {
    if (!isolated) kill(-p.pid, SIGKILL);  // NOTE: only while unreaped: the pgid cannot be reused yet
    pidfd_kill(p.pidfd.get());
  }
}

// Sets up descriptors and starts one command; returns an error text when it could not start.
std::string start_proc(Proc& p, SandboxCommand& cmd, std::vector<Fd>& passed, const SandboxConfig& cfg, bool isolated,
                       Clock::time_point deadline) {
  ChildPlan plan;
  std::vector<Fd> child_ends;  // closed here once the child has them
  auto map_fd = [&](int ours, int theirs) {
    plan.src[plan.n_fds] = ours;
    plan.dst[plan.n_fds] = theirs;
    plan.max_dst = std::max(plan.max_dst, theirs);
    ++plan.n_fds;
  };
  auto make_pipe = [&](int child_fd, bool input, const std::string* data) -> std::string {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0) return errno_text("pipe2", errno);
    Fd ours(input ? fds[1] : fds[0]);
    child_ends.emplace_back(input ? fds[0] : fds[1]);
    fcntl(ours.get(), F_SETFL, O_NONBLOCK);
    map_fd(child_ends.back().get(), child_fd);
    Stream s;
    s.child_fd = child_fd;
    s.fd = std::move(ours);
    s.data = data;
    p.streams.push_back(std::move(s));
    return "";
  };
  bool has_stdin = false;
  for (const auto& in : cmd.inputs) {
    has_stdin |= in.child_fd == 0;
    if (auto e = make_pipe(in.child_fd, true, &in.data); !e.empty()) return e;
  }
  if (!has_stdin) {
    child_ends.emplace_back(open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (!child_ends.back()) return errno_text("open /dev/null", errno);
    map_fd(child_ends.back().get(), 0);
  }
  std::vector<int> outs = {1, 2};
  outs.insert(outs.end(), cmd.outputs.begin(), cmd.outputs.end());
  for (int fd : outs) {
    if (auto e = make_pipe(fd, false, nullptr); !e.empty()) return e;
  }
  for (size_t i = 0; i < cmd.pass_fds.size(); ++i) map_fd(passed[i].get(), cmd.pass_fds[i].second);

  std::vector<std::string> argv = cmd.argv;
  std::vector<std::string> env;
  Fd info_read;
  sock_fprog prog{};
  const SeccompFilter& filter = seccomp_filter();
  if (!filter.error.empty()) return filter.error;
  const bool root = geteuid() == 0;
  if (isolated) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0) return errno_text("pipe2", errno);
    info_read.reset(fds[0]);
    child_ends.emplace_back(fds[1]);
    const int info_fd = plan.max_dst + 1, seccomp_fd = plan.max_dst + 2;
    map_fd(child_ends.back().get(), info_fd);
    child_ends.emplace_back(static_cast<int>(syscall(SYS_memfd_create, "grpo-seccomp", MFD_CLOEXEC)));
    if (!child_ends.back() || write(child_ends.back().get(), filter.bpf.data(), filter.bpf.size()) !=
                                  static_cast<ssize_t>(filter.bpf.size()) ||
        lseek(child_ends.back().get(), 0, SEEK_SET) != 0) {
      return errno_text("writing the seccomp filter", errno);
    }
    map_fd(child_ends.back().get(), seccomp_fd);
    argv = bwrap_argv(cfg, cmd.argv, info_fd, seccomp_fd);
    // NOTE: bwrap runs unprivileged (as nobody when we are root), so the sandbox's uid maps to a non-root
    // uid outside and RLIMIT_NPROC is enforced; a root-mapped sandbox would bypass it.
    plan.drop_uid = root;
  } else {
    char tmpl[64];
    std::snprintf(tmpl, sizeof tmpl, "/tmp/grpo-sandbox-%d-XXXXXX", static_cast<int>(getpid()));
    if (mkdtemp(tmpl) == nullptr) return errno_text("mkdtemp", errno);
    p.workdir = tmpl;
    plan.drop_uid = root && !cmd.trusted;
    if (plan.drop_uid) {
      static std::atomic<uint32_t> next_slot{static_cast<uint32_t>(getpid()) * 7919u};
      plan.run_uid = kRunUidBase + next_slot++ % kRunUids;
      if (chown(tmpl, plan.run_uid, plan.run_uid) < 0) return errno_text("chown", errno);
    }
    plan.workdir = p.workdir.c_str();
    env = {"PATH=/usr/bin:/bin", "HOME=" + p.workdir, "TMPDIR=" + p.workdir, "LANG=C.UTF-8"};
    prog.len = static_cast<unsigned short>(filter.bpf.size() / sizeof(sock_filter));
    prog.filter = reinterpret_cast<sock_filter*>(const_cast<char*>(filter.bpf.data()));
    plan.filter = &prog;
  }
  auto add_limit = [&](int resource, rlim_t value, rlim_t hard) {
    plan.resource[plan.n_limits] = resource;
    plan.limit[plan.n_limits] = {value, hard};
    ++plan.n_limits;
  };
  const auto cpu = static_cast<rlim_t>(std::ceil(cfg.cpu_seconds));
  add_limit(RLIMIT_CPU, cpu, cpu + 1);
  add_limit(RLIMIT_AS, static_cast<rlim_t>(cfg.memory_mb) << 20, static_cast<rlim_t>(cfg.memory_mb) << 20);
  add_limit(RLIMIT_FSIZE, static_cast<rlim_t>(cfg.max_file_mb) << 20, static_cast<rlim_t>(cfg.max_file_mb) << 20);
  add_limit(RLIMIT_NOFILE, static_cast<rlim_t>(cfg.max_open_files), static_cast<rlim_t>(cfg.max_open_files));
  add_limit(RLIMIT_CORE, 0, 0);
  if (!isolated) add_limit(RLIMIT_NPROC, static_cast<rlim_t>(cfg.max_processes), static_cast<rlim_t>(cfg.max_processes));

  std::vector<char*> argv_c, env_c;
  for (auto& s : argv) argv_c.push_back(s.data());
  argv_c.push_back(nullptr);
  for (auto& s : env) env_c.push_back(s.data());
  env_c.push_back(nullptr);
  plan.path = argv_c[0];
  plan.argv = argv_c.data();
  plan.envp = env_c.data();
  std::string error;
  p.pid = spawn_child(plan, &error);
  if (p.pid < 0) return error;
  p.reaped = false;
  p.pidfd.reset(open_pidfd(p.pid));  // our unreaped child: the pid cannot have been reused
  if (!p.pidfd) {
    kill(p.pid, SIGKILL);
    waitpid(p.pid, nullptr, 0);
    p.reaped = true;
    return errno_text("pidfd_open", errno);
  }
  child_ends.clear();
  passed.clear();
  if (isolated) {
    pid_t inner = read_child_pid(info_read.get(), deadline);
    // NOTE: should the command already have exited and been reaped by bwrap, its pid could belong to
    // another process by now: keep the pidfd only if that process is bwrap's child.
    Fd inner_fd(inner > 0 ? open_pidfd(inner) : -1);
    if (inner_fd && parent_of(inner) == p.pid) p.inner = std::move(inner_fd);
    p.bwrap_failed = inner <= 0;
  }
  return "";
}

std::vector<SandboxResult> run_impl(std::vector<SandboxCommand>& cmds, const SandboxConfig& cfg, bool isolated) {
  const size_t n = cmds.size();
  std::vector<SandboxResult> results(n);
  std::vector<std::vector<Fd>> passed(n);
  for (size_t i = 0; i < n; ++i) {
    for (auto& pf : cmds[i].pass_fds) passed[i].emplace_back(pf.first);
  }
  // Writing to a pipe whose reader died raises SIGPIPE: block it in this thread, drop it afterwards.
  sigset_t pipe_set, old_mask;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old_mask);

  const auto start = Clock::now();
  const auto deadline = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(cfg.wall_seconds));
  std::vector<Proc> procs(n);
  bool start_failed = false;
  for (size_t i = 0; i < n && !start_failed; ++i) {
    results[i].isolated = isolated;
    std::string err = start_proc(procs[i], cmds[i], passed[i], cfg, isolated, deadline);
    if (!err.empty()) {
      results[i].sandbox_error = err;
      start_failed = true;
    }
  }
  Clock::time_point killed_at = kNever, drain_until = kNever, end_run_at = kNever;
  if (start_failed) {
    killed_at = Clock::now();
    for (auto& p : procs) kill_tree(p, isolated, killed_at);
  }
  std::vector<pollfd> fds;
  std::vector<std::pair<size_t, int>> owners;  // per pollfd: proc index, stream index (-1 pidfd, -2 inner)
  char buf[1 << 16];
  while (true) {
    auto now = Clock::now();
    bool running = false, open_streams = false;
    for (auto& p : procs) {
      running |= !p.finished();
      for (auto& s : p.streams) open_streams |= static_cast<bool>(s.fd);
    }
    if (!running) {
      if (drain_until == kNever) drain_until = now + kDrainGrace;
      if (!open_streams || now >= drain_until) break;
    }
    if (running && killed_at == kNever && now >= deadline) {
      for (size_t i = 0; i < n; ++i) {
        if (procs[i].finished()) continue;
        results[i].timed_out = true;
        kill_tree(procs[i], isolated, now);
      }
      killed_at = now;
    }
    if (now >= end_run_at) {
      for (size_t i = 0; i < n; ++i) {
        if (procs[i].finished() || procs[i].kill_at != kNever) continue;
        results[i].killed_by_run = true;
        kill_tree(procs[i], isolated, now);
      }
      end_run_at = kNever;
      if (killed_at == kNever) killed_at = now;
    }
    auto until = std::min(!running ? drain_until : killed_at != kNever ? killed_at + kKillGrace : deadline, end_run_at);
    for (auto& p : procs) {
      if (p.reaped || p.kill_at == kNever) continue;
      if (now >= p.kill_at + kEscalate) {
        pidfd_kill(p.pidfd.get());
      } else {
        until = std::min(until, p.kill_at + kEscalate);
      }
    }
    if (running && killed_at != kNever && now >= killed_at + kKillGrace) {
      for (size_t i = 0; i < n; ++i) {
        if (!procs[i].finished()) results[i].sandbox_error = "processes survived SIGKILL; giving up on them";
      }
      break;
    }
    fds.clear();
    owners.clear();
    for (size_t i = 0; i < n; ++i) {
      Proc& p = procs[i];
      if (!p.reaped) {
        fds.push_back({p.pidfd.get(), POLLIN, 0});
        owners.emplace_back(i, -1);
      }
      if (p.inner && !p.inner_exited) {
        fds.push_back({p.inner.get(), POLLIN, 0});
        owners.emplace_back(i, -2);
      }
      for (size_t k = 0; k < p.streams.size(); ++k) {
        Stream& s = p.streams[k];
        if (!s.fd) continue;
        fds.push_back({s.fd.get(), static_cast<short>(s.data ? POLLOUT : POLLIN), 0});
        owners.emplace_back(i, static_cast<int>(k));
      }
    }
    auto wait_ms = std::chrono::duration_cast<std::chrono::milliseconds>(until - now).count() + 1;
    int r = poll(fds.data(), fds.size(), static_cast<int>(std::max<long long>(wait_ms, 0)));
    if (r < 0 && errno != EINTR) break;
    for (size_t f = 0; r > 0 && f < fds.size(); ++f) {
      if (fds[f].revents == 0) continue;
      Proc& p = procs[owners[f].first];
      SandboxResult& res = results[owners[f].first];
      int which = owners[f].second;
      if (which == -2) {  // the namespace is empty
        p.inner_exited = true;
        close_inner_when_done(p);
      } else if (which == -1) {  // the spawned process exited
        if (!isolated) kill(-p.pid, SIGKILL);  // leftovers of its group, while the pgid is still ours
        int status = 0;
        pid_t w;
        do w = waitpid(p.pid, &status, WNOHANG); while (w < 0 && errno == EINTR);
        if (w == 0) continue;
        p.reaped = true;
        p.pidfd.reset();
        if (w > 0 && WIFEXITED(status)) {
          res.exit_code = WEXITSTATUS(status);
          if (isolated && res.exit_code > 128 && res.exit_code < 128 + 65) res.term_signal = res.exit_code - 128;
        } else if (w > 0 && WIFSIGNALED(status)) {
          res.term_signal = WTERMSIG(status);
        }
        if (p.inner && !p.inner_exited) pidfd_kill(p.inner.get());  // normally already gone with bwrap
        close_inner_when_done(p);
        for (auto& s : p.streams) {
          if (s.data) s.fd.reset();
        }
        if (cmds[owners[f].first].ends_run && end_run_at == kNever) end_run_at = Clock::now() + kEndRunGrace;
      } else {
        Stream& s = p.streams[static_cast<size_t>(which)];
        if (s.data) {
          size_t left = s.data->size() - s.offset;
          ssize_t w = left ? write(s.fd.get(), s.data->data() + s.offset, std::min(left, sizeof buf)) : 0;
          if (w > 0) s.offset += static_cast<size_t>(w);
          if ((w < 0 && errno != EAGAIN && errno != EINTR) || s.offset == s.data->size()) s.fd.reset();
        } else {
          ssize_t got = read(s.fd.get(), buf, sizeof buf);
          if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
          if (got <= 0) {
            s.fd.reset();
            continue;
          }
          std::string& out = res.output[s.child_fd];
          size_t room = cfg.max_output_bytes - std::min(cfg.max_output_bytes, out.size());
          out.append(buf, std::min(room, static_cast<size_t>(got)));
          if (static_cast<size_t>(got) > room && !res.output_exceeded) {
            res.output_exceeded = true;
            kill_tree(p, isolated, Clock::now());
          }
        }
      }
    }
  }

  for (size_t i = 0; i < n; ++i) {
    results[i].output.try_emplace(1);
    results[i].output.try_emplace(2);
    if (procs[i].bwrap_failed && results[i].sandbox_error.empty()) {
      results[i].sandbox_error = "bubblewrap could not start the sandbox: " + results[i].output[2].substr(0, 500);
    }
    if (!procs[i].workdir.empty()) nftw(procs[i].workdir.c_str(), remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    results[i].wall_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  }
  sigset_t pending;
  timespec zero{0, 0};
  while (!sigismember(&old_mask, SIGPIPE) && sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE)) {
    if (sigtimedwait(&pipe_set, nullptr, &zero) < 0) break;
  }
  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  return results;
}

struct Probe {
  bool ok = false;
  std::string why;  // when not ok
};

const Probe& probe_bwrap(const SandboxConfig& cfg) {
  static const Probe probe = [&] {
    SandboxConfig pc = cfg;
    pc.wall_seconds = 20.0;
    std::vector<SandboxCommand> cmds(1);
    cmds[0].argv = {"/usr/bin/true"};
    SandboxResult r = run_impl(cmds, pc, true)[0];
    if (r.sandbox_error.empty() && r.exit_code == 0) return Probe{true, ""};
    return Probe{false, !r.sandbox_error.empty() ? r.sandbox_error
                                                 : "exit status " + std::to_string(r.exit_code) + ": " + r.output[2]};
  }();
  return probe;
}

}  // namespace

void validate_sandbox_config(const SandboxConfig& cfg) {
  GRPO_CHECK(cfg.cpu_seconds > 0 && cfg.wall_seconds > 0, "SandboxConfig: cpu_seconds and wall_seconds must be > 0; got ",
             cfg.cpu_seconds, " and ", cfg.wall_seconds);
  GRPO_CHECK(cfg.memory_mb > 0 && cfg.max_processes > 0 && cfg.max_file_mb > 0 && cfg.max_open_files > 0,
             "SandboxConfig: memory_mb, max_processes, max_file_mb and max_open_files must be > 0");
  GRPO_CHECK(cfg.max_output_bytes > 0, "SandboxConfig: max_output_bytes must be > 0");
  GRPO_CHECK(cfg.python.rfind("/usr/", 0) == 0, "SandboxConfig::python is \"", cfg.python,
             "\"; it must be an absolute path under /usr, the only tree the sandbox sees");
  GRPO_CHECK(!cfg.bwrap.empty() && cfg.bwrap[0] == '/', "SandboxConfig::bwrap must be an absolute path");
}

bool bwrap_works(const SandboxConfig& cfg) { return probe_bwrap(cfg).ok; }

std::vector<SandboxResult> run_sandboxed(std::vector<SandboxCommand> commands, const SandboxConfig& cfg) {
  std::vector<Fd> owned;  // closes the handed-over descriptors if a check below throws
  for (auto& c : commands) {
    for (auto& pf : c.pass_fds) owned.emplace_back(pf.first);
  }
  validate_sandbox_config(cfg);
  for (const auto& c : commands) {
    GRPO_CHECK(!c.argv.empty() && !c.argv[0].empty() && c.argv[0][0] == '/',
               "SandboxCommand::argv[0] must be an absolute path");
    std::set<int> seen = {1, 2};
    auto claim = [&](int fd) {
      GRPO_CHECK(fd >= 0 && fd <= kMaxChildFd && seen.insert(fd).second, "SandboxCommand: descriptor ", fd,
                 " is out of range 0..", kMaxChildFd, " or used twice");
    };
    for (const auto& in : c.inputs) claim(in.child_fd);
    for (int fd : c.outputs) claim(fd);
    for (const auto& pf : c.pass_fds) {
      GRPO_CHECK(pf.second > 2, "SandboxCommand::pass_fds: descriptor ", pf.second, " would replace stdio");
      claim(pf.second);
    }
    seen.insert(0);
    GRPO_CHECK(seen.size() <= static_cast<size_t>(kMaxChildFds), "SandboxCommand: more than ", kMaxChildFds,
               " descriptors");
  }
  for (auto& fd : owned) fd.release();  // run_impl owns them from here

  bool isolated = cfg.use_bwrap != BwrapUse::never;
  if (isolated && !bwrap_works(cfg)) {
    if (cfg.use_bwrap == BwrapUse::always) {
      std::vector<SandboxResult> failed(commands.size());
      for (auto& r : failed) r.sandbox_error = "bubblewrap cannot create namespaces: " + probe_bwrap(cfg).why;
      for (auto& c : commands) {
        for (auto& pf : c.pass_fds) ::close(pf.first);
      }
      return failed;
    }
    static std::atomic<bool> warned{false};
    if (!warned.exchange(true)) {
      std::fprintf(stderr,
                   "grpo: WARNING: bubblewrap cannot create namespaces here (%s). Code rewards now run with rlimits "
                   "and seccomp only: NO filesystem, network or process isolation. Hint: enable unprivileged user "
                   "namespaces (sysctl user.max_user_namespaces, kernel.unprivileged_userns_clone) or set "
                   "use_bwrap=never to silence this on purpose.\n",
                   probe_bwrap(cfg).why.c_str());
    }
    isolated = false;
  }
  return run_impl(commands, cfg, isolated);
}

SandboxResult run_sandboxed(SandboxCommand command, const SandboxConfig& cfg) {
  std::vector<SandboxCommand> cmds;
  cmds.push_back(std::move(command));
  return run_sandboxed(std::move(cmds), cfg)[0];
}

}  // namespace grpo::rewards::code
