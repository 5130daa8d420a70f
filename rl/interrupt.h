// Ctrl-C handling for long runs: the first SIGINT or SIGTERM sets a flag the loops poll between steps
// (so they can checkpoint and stop cleanly); a second one ends the process at once.
#pragma once

namespace grpo::rl {

void install_interrupt_handler();
bool interrupt_requested();
void clear_interrupt();  // for tests

}  // namespace grpo::rl
