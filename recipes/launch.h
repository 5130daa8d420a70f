// `grpo launch --nproc N -- COMMAND ...`: N local ranks of a grpo command, for users without torchrun. Each rank is
// this program run again with the environment torchrun sets (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE,
// MASTER_ADDR, MASTER_PORT). Ctrl-C reaches every rank (each finishes its step; rank 0 checkpoints); when a rank
// fails, the others are stopped, and the launcher exits with the failing rank's status, naming it.
#pragma once

namespace grpo::recipes {

// argv after the command name. Returns the exit status.
int run_launch(int argc, char** argv);

}  // namespace grpo::recipes
