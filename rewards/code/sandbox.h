// Runs untrusted commands (Debian's /usr/bin/python3) in a bubblewrap sandbox: new user, pid, net, mount,
// ipc and uts namespaces, read-only /usr, a private tmpfs working directory, a seccomp filter, rlimits, a
// wall-clock kill of the whole process tree and capped output. It reports what happened; it does not
// decide pass or fail (harness.h) and knows nothing about tests or scores.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace grpo::rewards::code {

// Whether run_sandboxed uses bubblewrap.
enum class BwrapUse {
  auto_detect,  // probe once per process; without namespaces, run with rlimits + seccomp and warn once
  always,       // a run is a sandbox_error when bubblewrap cannot create the namespaces
  never,        // rlimits + seccomp only (no filesystem, network or pid isolation): tests and debugging
};

struct SandboxConfig {
  double cpu_seconds = 5.0;           // RLIMIT_CPU per process, rounded up: SIGXCPU, SIGKILL 1 s later (the
                                      // sandbox's pid 1 ignores SIGXCPU unless it handles it)
  double wall_seconds = 10.0;         // wall clock for a whole run (every command in it), then all are killed
  int memory_mb = 1024;               // RLIMIT_AS per process, MiB: address space, not RSS (threads reserve a lot)
  int max_processes = 64;             // RLIMIT_NPROC, processes + threads; per sandbox (without bwrap, per uid:
                                      // a uid per run when we are root, else our own uid's whole count)
  int max_file_mb = 64;               // RLIMIT_FSIZE, MiB; also the size of the tmpfs working directory /tmp
  int max_open_files = 64;            // RLIMIT_NOFILE
  size_t max_output_bytes = 1 << 20;  // per captured descriptor; one byte more kills that command
  std::string python = "/usr/bin/python3";  // Debian's interpreter (harness.h runs it); must live under /usr
  std::string bwrap = "/usr/bin/bwrap";     // bubblewrap >= 0.8 (--disable-userns)
  BwrapUse use_bwrap = BwrapUse::auto_detect;  // see BwrapUse
};

// Throws grpo::Error naming the first bad field (non-positive limit, relative path).
void validate_sandbox_config(const SandboxConfig& cfg);

// Bytes written to the command's descriptor child_fd (0 is stdin), which is then closed.
struct SandboxInput {
  int child_fd = 0;
  std::string data;
};

// One command of a run. Descriptors 1 and 2 are always captured; fd 0 reads /dev/null unless an input
// names it; nothing else is inherited (no leaked descriptors).
struct SandboxCommand {
  std::vector<std::string> argv;             // argv[0]: an absolute path visible in the sandbox (under /usr)
  std::vector<SandboxInput> inputs;          // written while the command runs, non-blocking
  std::vector<int> outputs;                  // extra descriptors to capture, e.g. {3}
  std::vector<std::pair<int, int>> pass_fds;  // {descriptor here, number in the command}: handed over as is.
                                             // run_sandboxed takes ownership and closes them.
  bool trusted = false;                      // without bwrap only: keep our uid (a trusted harness); untrusted
                                             // commands run as a uid of their own when we are root
  bool ends_run = false;                     // when it exits, the run's other commands are killed
};

struct SandboxResult {
  int exit_code = -1;             // exit status, -1 when ended by a signal. NOTE: bubblewrap reports a
                                  // signal N as exit status 128+N; term_signal decodes it
  int term_signal = 0;            // the signal that ended the command (SIGXCPU: CPU limit), 0 when none
  bool timed_out = false;         // killed at the wall-clock deadline
  bool output_exceeded = false;   // killed because a captured descriptor passed max_output_bytes
  bool killed_by_run = false;     // killed because a command with ends_run exited
  bool isolated = false;          // ran inside bubblewrap's namespaces (false: rlimits + seccomp only)
  std::map<int, std::string> output;  // child descriptor -> captured bytes (at most max_output_bytes)
  std::string sandbox_error;      // non-empty when the sandbox itself failed; the rest is then meaningless
  double wall_seconds = 0.0;      // from the first start to the end of the run
};

// Runs the commands at once under one deadline and returns one result per command, in order. Every
// process of every command is gone when it returns (killed at the deadline, or when an ends_run command
// exits). Nothing throws except misuse (validate_sandbox_config, bad descriptors numbers).
// Thread-safe: runs may proceed concurrently from many threads.
std::vector<SandboxResult> run_sandboxed(std::vector<SandboxCommand> commands, const SandboxConfig& cfg);
SandboxResult run_sandboxed(SandboxCommand command, const SandboxConfig& cfg);

// True when bubblewrap can create the sandbox's namespaces here (probed once per process, cached).
bool bwrap_works(const SandboxConfig& cfg);

}  // namespace grpo::rewards::code
