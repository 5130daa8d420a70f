// `grpo data show RECIPE` prints the first rendered prompts with their token counts and meta, so a user sees exactly
// what the model sees; `grpo data export RECIPE --out DIR` writes the records (a generator's too) as JSONL.
#pragma once

namespace grpo::recipes {

// argv after the command name; returns the exit status, throws grpo::Error (one line) on bad input.
int run_data(int argc, char** argv);

}  // namespace grpo::recipes
