// `grpo bench decode|learner`: the throughput of the rollout engine and of the learner on a checkpoint, on any device
// and dtype, over random token ids, as one JSON line on stdout (scripts/gpu-check and the bench scripts read it).
// Not a training run: nothing is saved, and the numbers mean nothing about quality.
#pragma once

namespace grpo::recipes {

// argv after the command name. Returns the exit status; errors throw grpo::Error (one line).
int run_bench(int argc, char** argv);

}  // namespace grpo::recipes
