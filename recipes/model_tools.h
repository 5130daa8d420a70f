// `grpo info --model DIR` and `grpo convert --model DIR --out DIR`: inspect and rewrite Hugging Face checkpoints.
#pragma once

namespace grpo::recipes {

// argv after the command name. Return the exit status; errors throw grpo::Error (one line).
int run_info(int argc, char** argv);
int run_convert(int argc, char** argv);

}  // namespace grpo::recipes
