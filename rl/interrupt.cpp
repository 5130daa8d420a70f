// SIGINT/SIGTERM -> a flag; see interrupt.h.
#include "rl/interrupt.h"

#include <unistd.h>

#include <atomic>
#include <csignal>

namespace grpo::rl {

namespace {
std::atomic<bool> g_requested{false};

void on_signal(int sig) {
  if (g_requested.exchange(true)) {
    std::signal(sig, SIG_DFL);
    std::raise(sig);
    return;
  }
  const char msg[] = "\ninterrupt: finishing this step and writing a checkpoint (press Ctrl-C again to abort)\n";
  ssize_t ignored = ::write(STDERR_FILENO, msg, sizeof(msg) - 1);
  (void)ignored;
}
}  // namespace

void install_interrupt_handler() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

bool interrupt_requested() { return g_requested.load(); }
void clear_interrupt() { g_requested.store(false); }

}  // namespace grpo::rl
