// `grpo reward --task math|countdown|code --input FILE.jsonl [--output FILE.jsonl] [--threads N]`: scores
// completions from a file through the same checkers and pool a GRPO run uses, for users to audit rewards.
#pragma once

namespace grpo::recipes {

// argv after the command name; returns the exit status, throws grpo::Error (one line) on bad arguments.
int run_reward(int argc, char** argv);

}  // namespace grpo::recipes
