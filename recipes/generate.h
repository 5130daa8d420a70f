// `grpo generate`: completions from any checkpoint for prompts in a JSONL file, through the rollout engine a GRPO
// run uses: the same sampler, stop rules and log-probs, so what users see here is what training samples.
#pragma once

namespace grpo::recipes {

// argv after the command name; returns the exit status, throws grpo::Error (one line) on bad input.
int run_generate(int argc, char** argv);

}  // namespace grpo::recipes
