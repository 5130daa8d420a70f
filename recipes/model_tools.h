// `grpo info --model DIR`, `grpo convert --model DIR --out DIR` and `grpo init`: inspect, rewrite and create
// Hugging Face checkpoints.
#pragma once

namespace grpo::recipes {

// argv after the command name. Return the exit status; errors throw grpo::Error (one line).
int run_info(int argc, char** argv);
int run_convert(int argc, char** argv);
// `grpo init --preset NAME --tokenizer PATH --out DIR [--seed S]`: a fresh random checkpoint (for tests and smoke
// runs of a recipe on a real tokenizer).
int run_init(int argc, char** argv);

}  // namespace grpo::recipes
