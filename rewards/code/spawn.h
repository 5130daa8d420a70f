// Starting one sandboxed process, for sandbox.cpp: the seccomp filter every command runs under, and a
// child started with clone(CLONE_VM | CLONE_VFORK) that installs descriptors, rlimits, a uid and (without
// bwrap) the filter, then execs. Not the run loop or bubblewrap's arguments (sandbox.cpp).
#pragma once

#include <linux/filter.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <unistd.h>

#include <string>

namespace grpo::rewards::code {

constexpr int kMaxChildFd = 31;   // highest descriptor number a command may receive
constexpr int kMaxChildFds = 16;  // descriptors one command may receive
constexpr uid_t kNobody = 65534;

// An owned file descriptor, closed on destruction.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(Fd&& o) noexcept : fd_(o.release()) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) reset(o.release());
    return *this;
  }
  int get() const { return fd_; }
  int release() {
    int f = fd_;
    fd_ = -1;
    return f;
  }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }
  explicit operator bool() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};


// Denied with EPERM: sockets, ptrace and cross-process memory access, mount and namespace calls,
// personality, keyctl, bpf, userfaultfd, perf, io_uring, memfd, setsid/setpgid, thread-directed and
// queued signals, kill() outside the caller's own process group, prlimit on other processes, clone with
// namespace flags, TIOCSTI; clone3 gets ENOSYS (glibc falls back to clone, whose flags can be checked).
struct SeccompFilter {
  std::string bpf;    // seccomp_export_bpf output: an array of struct sock_filter
  std::string error;  // why the filter could not be built (then bpf is empty)
};
const SeccompFilter& seccomp_filter();

// Everything the child needs, prepared before clone: the child only makes async-signal-safe calls.
struct ChildPlan {
  const char* path = nullptr;
  char* const* argv = nullptr;
  char* const* envp = nullptr;
  int n_fds = 0;
  int src[kMaxChildFds + 4] = {};  // + /dev/null, bwrap's info and seccomp descriptors
  int dst[kMaxChildFds + 4] = {};
  int max_dst = 2;
  int n_limits = 0;
  int resource[8] = {};
  rlimit limit[8] = {};
  const char* workdir = nullptr;     // chdir here (without bwrap)
  bool drop_uid = false;             // we are root: become run_uid (uid and gid) before exec
  uid_t run_uid = kNobody;
  const sock_fprog* filter = nullptr;  // loaded before exec (without bwrap; bwrap loads it itself)
  int err = 0;                         // written by the child when a step fails
  const char* failed_step = nullptr;
};

// Starts the child and returns its pid; -1 with *error set when any step before exec failed.
pid_t spawn_child(ChildPlan& plan, std::string* error);

std::string errno_text(const std::string& what, int err);  // "what: strerror(err)", thread-safe
int open_pidfd(pid_t pid);                                  // pidfd_open(2); -1 on failure
void pidfd_kill(int pidfd);                                 // SIGKILL through a pidfd (-1: no-op)

}  // namespace grpo::rewards::code
