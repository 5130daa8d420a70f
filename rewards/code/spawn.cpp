// Starting one sandboxed process: the seccomp filter (libseccomp, exported once as BPF) and the
// clone(CLONE_VM | CLONE_VFORK) child that installs descriptors, rlimits, a uid and the filter, then execs.
#include "rewards/code/spawn.h"

#include <fcntl.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <system_error>
#include <vector>

namespace grpo::rewards::code {
namespace {

constexpr int kFdBase = kMaxChildFd + 8;  // scratch descriptors in the child, above every target

// The kernel's struct sigaction (rt_sigaction), so the child needs no libc (or sanitizer) wrapper.
struct KernelSigaction {
  void (*handler)(int);
  unsigned long flags;
  void (*restorer)();
  uint64_t mask;
};

// Denied with EPERM (names unknown to this architecture are skipped). Everything else is allowed: the
// namespaces and rlimits do the containing; this list removes the kernel surface a program never needs.
constexpr const char* kDeniedSyscalls[] = {
    "socket", "socketpair", "connect", "bind", "listen", "accept", "accept4",            // no sockets
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",            // no ptrace
    "mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen",     // no mount
    "fsconfig", "fsmount", "fspick", "mount_setattr", "setns", "unshare",
    "personality", "keyctl", "add_key", "request_key", "bpf", "userfaultfd", "perf_event_open",
    "setsid", "setpgid",  // stay in the process group the kill reaches
    "tkill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "pidfd_open", "pidfd_send_signal",
    "io_uring_setup", "io_uring_enter", "io_uring_register", "memfd_create", "shmget",
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "reboot",
    "swapon", "swapoff", "acct", "settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
    "syslog", "quotactl", "quotactl_fd", "name_to_handle_at", "open_by_handle_at", "iopl", "ioperm",
    "vhangup", "lookup_dcookie", "uselib", "fanotify_init",
};

constexpr uint64_t kCloneNamespaceFlags[] = {CLONE_NEWNS,  CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC,
                                             CLONE_NEWUSER, CLONE_NEWPID,   CLONE_NEWNET};

scmp_arg_cmp arg_cmp(unsigned arg, scmp_compare op, uint64_t a, uint64_t b = 0) {
  scmp_arg_cmp c{};
  c.arg = arg;
  c.op = op;
  c.datum_a = a;
  c.datum_b = b;
  return c;
}

SeccompFilter build_seccomp_filter() {
  SeccompFilter out;
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (ctx == nullptr) return {"", "seccomp_init failed"};
  auto add = [&](uint32_t action, const char* name, std::vector<scmp_arg_cmp> args) {
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR || !out.error.empty()) return;
    int rc = seccomp_rule_add_array(ctx, action, nr, static_cast<unsigned>(args.size()), args.data());
    if (rc != 0) out.error = std::string("seccomp_rule_add(") + name + "): " + std::to_string(-rc);
  };
  const uint32_t eperm = SCMP_ACT_ERRNO(EPERM);
  for (const char* name : kDeniedSyscalls) add(eperm, name, {});
  // kill(): only the caller's own process group (pid 0), or signal 0 (an existence probe).
  add(eperm, "kill", {arg_cmp(0, SCMP_CMP_NE, 0), arg_cmp(1, SCMP_CMP_NE, 0)});
  add(eperm, "prlimit64", {arg_cmp(0, SCMP_CMP_NE, 0)});  // only its own limits (and they cannot rise)
  for (uint64_t flag : kCloneNamespaceFlags) add(eperm, "clone", {arg_cmp(0, SCMP_CMP_MASKED_EQ, flag, flag)});
  // NOTE: clone3 passes its flags in memory, which seccomp cannot read; ENOSYS makes glibc use clone.
  add(SCMP_ACT_ERRNO(ENOSYS), "clone3", {});
  add(eperm, "ioctl", {arg_cmp(1, SCMP_CMP_EQ, TIOCSTI)});
  add(eperm, "ioctl", {arg_cmp(1, SCMP_CMP_EQ, TIOCLINUX)});
  if (out.error.empty()) {
    Fd mem(static_cast<int>(syscall(SYS_memfd_create, "grpo-seccomp", MFD_CLOEXEC)));
    int rc = mem ? seccomp_export_bpf(ctx, mem.get()) : -errno;
    if (rc != 0 || lseek(mem.get(), 0, SEEK_SET) != 0) {
      out.error = "seccomp_export_bpf failed: " + std::to_string(-rc);
    } else {
      char buf[4096];
      ssize_t n;
      while ((n = read(mem.get(), buf, sizeof buf)) > 0) out.bpf.append(buf, static_cast<size_t>(n));
    }
  }
  seccomp_release(ctx);
  return out;
}

}  // namespace

const SeccompFilter& seccomp_filter() {
  static const SeccompFilter filter = build_seccomp_filter();
  return filter;
}

namespace {

// ---- spawning --------------------------------------------------------------------------------------

__attribute__((no_sanitize_address, no_sanitize("undefined"))) int child_fail(ChildPlan* p, const char* step) {
  p->err = errno;
  p->failed_step = step;
  syscall(SYS_exit_group, 127);
  return 127;
}

// Runs on its own stack in our address space (CLONE_VM | CLONE_VFORK) until execve: no allocation, no
// locks, raw syscalls only (no libc or sanitizer wrapper touches shared state). The signal handler table
// is the child's own copy, so resetting it does not touch ours.
__attribute__((no_sanitize_address, no_sanitize("undefined"))) int child_main(void* arg) {
  auto* p = static_cast<ChildPlan*>(arg);
  KernelSigaction dfl = {};
  dfl.handler = SIG_DFL;
  for (int s = 1; s < NSIG; ++s) syscall(SYS_rt_sigaction, s, &dfl, nullptr, sizeof dfl.mask);
  if (syscall(SYS_setsid) < 0) return child_fail(p, "setsid");
  int tmp[kMaxChildFds + 4];
  for (int i = 0; i < p->n_fds; ++i) {
    tmp[i] = static_cast<int>(syscall(SYS_fcntl, p->src[i], F_DUPFD_CLOEXEC, kFdBase));
    if (tmp[i] < 0) return child_fail(p, "fcntl(F_DUPFD_CLOEXEC)");
  }
  for (int i = 0; i < p->n_fds; ++i) {
    if (syscall(SYS_dup3, tmp[i], p->dst[i], 0) < 0) return child_fail(p, "dup3");
  }
  // Whatever else this process has open (with or without O_CLOEXEC) stays out of the sandbox.
  if (syscall(SYS_close_range, p->max_dst + 1, ~0U, 0) < 0) return child_fail(p, "close_range");
  if (p->workdir != nullptr && syscall(SYS_chdir, p->workdir) < 0) return child_fail(p, "chdir");
  for (int i = 0; i < p->n_limits; ++i) {
    if (syscall(SYS_prlimit64, 0, p->resource[i], &p->limit[i], nullptr) < 0) return child_fail(p, "setrlimit");
  }
  if (p->drop_uid) {
    const uid_t id = p->run_uid;
    if (syscall(SYS_setgroups, 0, nullptr) < 0) return child_fail(p, "setgroups");
    if (syscall(SYS_setresgid, id, id, id) < 0) return child_fail(p, "setresgid");
    if (syscall(SYS_setresuid, id, id, id) < 0) return child_fail(p, "setresuid");
  }
  if (syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) return child_fail(p, "prctl(PR_SET_PDEATHSIG)");
  if (p->filter != nullptr) {
    if (syscall(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) return child_fail(p, "prctl(PR_SET_NO_NEW_PRIVS)");
    if (syscall(SYS_prctl, PR_SET_SECCOMP, SECCOMP_MODE_FILTER, p->filter, 0, 0) < 0) {
      return child_fail(p, "prctl(PR_SET_SECCOMP)");
    }
  }
  const uint64_t none = 0;
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, nullptr, sizeof none);
  syscall(SYS_execve, p->path, p->argv, p->envp);
  return child_fail(p, "execve");
}

}  // namespace

std::string errno_text(const std::string& what, int err) { return what + ": " + std::system_category().message(err); }

pid_t spawn_child(ChildPlan& plan, std::string* error) {
  constexpr size_t kStack = 1 << 18;
  void* stack = mmap(nullptr, kStack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) {
    *error = errno_text("mmap", errno);
    return -1;
  }
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);  // no handler of ours may run on the child's stack
  pid_t pid = clone(child_main, static_cast<char*>(stack) + kStack, CLONE_VM | CLONE_VFORK | SIGCHLD, &plan);
  int clone_err = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  munmap(stack, kStack);
  if (pid < 0) {
    *error = errno_text("clone", clone_err);
    return -1;
  }
  if (plan.failed_step != nullptr) {
    waitpid(pid, nullptr, 0);
    *error = errno_text(std::string("starting the sandbox: ") + plan.failed_step, plan.err);
    return -1;
  }
  return pid;
}

int open_pidfd(pid_t pid) { return static_cast<int>(syscall(SYS_pidfd_open, pid, 0)); }
void pidfd_kill(int pidfd) {
  if (pidfd >= 0) syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0);
}

}  // namespace grpo::rewards::code
