// The Countdown task as a record source: every problem (a multiset of numbers and a reachable target), the split
// into train and held-out by a hash of the sorted numbers and target (disjoint by construction, stable across runs
// and seeds), the compact prompt text of the tiny recipe, a fresh display order of the numbers per training draw,
// and SFT targets written from the solver's solutions. Not the verifier (rewards/countdown).
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "rl/data/source.h"

namespace grpo::rl::data {

struct CountdownConfig {
  int64_t n_numbers = 3;            // numbers per problem (TinyZero: 3 or 4)
  int64_t min_number = 1;           // smallest number
  int64_t max_number = 20;          // largest number (TinyZero: 99)
  int64_t min_target = 1;           // smallest target
  int64_t max_target = 100;         // largest target
  double heldout_fraction = 0.1;    // share of problems kept out of training, chosen by hash
  bool trace = false;               // SFT targets carry a <think> trace of the steps before the answer
  bool integer_trace = true;        // prefer solutions whose intermediate results are non-negative integers
  void validate() const;
};

struct CountdownProblem {
  std::vector<int64_t> numbers;  // sorted ascending
  int64_t target = 0;
};

struct CountdownData {
  std::vector<CountdownProblem> train;
  std::vector<CountdownProblem> heldout;  // ordered by hash
};

// 64-bit hash of the sorted numbers and target: the split key.
uint64_t countdown_hash(const CountdownProblem& p);
// All problems with a reachable target (each number used exactly once, + - * /, exact rationals), split.
CountdownData build_countdown_data(const CountdownConfig& cfg);

// "03,15,07=022:" with the numbers in the given display order, zero-padded to the widths of the maxima.
std::string countdown_prompt_text(const std::vector<int64_t>& shown, int64_t target, const CountdownConfig& cfg);
// A problem's record: "numbers" (in the display order `shown`), "target" and "compact" (countdown_prompt_text).
Record countdown_record(const CountdownProblem& p, const std::vector<int64_t>& shown, const CountdownConfig& cfg);
// The problem a record describes (numbers sorted); throws naming the record's origin when it is not one.
CountdownProblem countdown_problem(const Record& r);

// The generator: train problems (numbers sorted, shown in a fresh order each draw), the held-out split as the
// evaluation set "heldout" (display order fixed by the problem's hash), SFT responses from the solver.
RecordSource countdown_source(const CountdownConfig& cfg);

// An SFT completion for p: "<answer>EQ</answer>" (or "<think>TRACE</think><answer>EQ</answer>"), one of the
// solver's solutions drawn from `rng`. The caller appends EOS.
std::string countdown_sft_completion(const CountdownProblem& p, std::mt19937_64& rng, const CountdownConfig& cfg);

}  // namespace grpo::rl::data
