// Short arithmetic word problems (one to three steps on small whole numbers) as a record source, for post-training
// small pretrained models: "Ben has 36 coins. Then he finds 47 more. How many coins does Ben have now?". Each
// record carries "question" and "answer"; the set is drawn from its own seed (not run.seed), so the held-out split
// (by a hash of the question) is the same for every run. Not a verifier: the math reward scores the answers.
#pragma once

#include <cstdint>

#include "rl/data/source.h"

namespace grpo::rl::data {

struct ArithmeticConfig {
  int64_t n_problems = 20000;     // distinct problems generated (train + held out)
  int64_t min_steps = 1;          // operations per problem
  int64_t max_steps = 3;
  int64_t max_number = 50;        // operands are in 1..max_number (factors and divisors in 2..max_factor)
  int64_t max_factor = 5;
  int64_t max_value = 500;        // every intermediate value and the answer stay in 0..max_value
  double heldout_fraction = 0.1;  // share of problems held out, chosen by hash of the question
  int64_t set_seed = 2024;        // the problem set's seed (the split must not move with run.seed)
  void validate() const;
};

// The generator: train records, and the held-out split as the evaluation set "heldout" (ordered by hash).
RecordSource arithmetic_source(const ArithmeticConfig& cfg);

}  // namespace grpo::rl::data
