// `grpo tokenize`: text -> ids (or ids -> text with --decode) with any tokenizer grpo.cpp reads, for users to
// inspect what a model sees; --jsonl and --repeat make it the C++ side of scripts/bench_tokenizer.
#pragma once

namespace grpo::recipes {

// argv after the command name; returns the exit status, throws grpo::Error (one line) on bad input.
int run_tokenize(int argc, char** argv);

}  // namespace grpo::recipes
