// The Countdown task as data: every problem (a multiset of numbers and a reachable target), the split into
// train and held-out by a hash of the sorted numbers and target (disjoint by construction, stable across
// runs and seeds), the prompt text a model sees, and SFT targets written from the solver's solutions.
// Not the verifier (rewards/countdown) and not the sampler of training batches (grpo_step / sft).
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "policy/tokenizer/tokenizer.h"
#include "rollout/types.h"

namespace grpo::rl {

struct CountdownTaskConfig {
  int64_t n_numbers = 3;            // numbers per problem (TinyZero: 3 or 4)
  int64_t min_number = 1;           // smallest number
  int64_t max_number = 20;          // largest number (TinyZero: 99)
  int64_t min_target = 1;           // smallest target
  int64_t max_target = 100;         // largest target
  double heldout_fraction = 0.1;    // share of problems kept out of training, chosen by hash
  int64_t eval_size = 1000;         // held-out problems `grpo eval` scores
  bool trace = false;               // SFT targets carry a <think> trace of the steps before the answer
  bool integer_trace = true;        // prefer solutions whose intermediate results are non-negative integers
  std::string chat_template = "plain";  // prompt rendered as one user turn of this template (policy/tokenizer/chat_template.h)
  void validate() const;
};

struct CountdownProblem {
  std::vector<int64_t> numbers;  // sorted ascending
  int64_t target = 0;
};

struct CountdownData {
  std::vector<CountdownProblem> train;
  std::vector<CountdownProblem> heldout;  // ordered by hash; the first eval_size form the evaluation set
};

// 64-bit hash of the sorted numbers and target: the split key.
uint64_t countdown_hash(const CountdownProblem& p);
// All problems with a reachable target (each number used exactly once, + - * /, exact rationals), split.
CountdownData build_countdown_data(const CountdownTaskConfig& cfg);

// "03,15,07=022:" with the numbers in the given display order, zero-padded to the widths of the maxima.
std::string countdown_prompt_text(const std::vector<int64_t>& shown, int64_t target, const CountdownTaskConfig& cfg);

// A prompt ready for the rollout: numbers shown in a random order drawn from `rng`, meta for the verifier.
rollout::Prompt make_countdown_prompt(const CountdownProblem& p, int64_t id, std::mt19937_64& rng,
                                      const policy::Tokenizer& tok, const CountdownTaskConfig& cfg);
// The held-out evaluation prompts (ids 0..n-1), display order fixed by the problem's hash.
std::vector<rollout::Prompt> countdown_eval_prompts(const CountdownData& data, const policy::Tokenizer& tok,
                                                    const CountdownTaskConfig& cfg, int64_t n);

// Training problems in epochs: each epoch is a fresh shuffle of the train set, and draw i of a run depends
// only on (seed, i), so a resumed run sees exactly the prompts it would have seen.
class CountdownSampler {
 public:
  CountdownSampler(const std::vector<CountdownProblem>& train, uint64_t seed);
  const CountdownProblem& problem(int64_t draw);
  // The prompt of draw i: id i, display order from (seed, i).
  rollout::Prompt prompt(int64_t draw, const policy::Tokenizer& tok, const CountdownTaskConfig& cfg);

 private:
  const std::vector<CountdownProblem>& train_;
  uint64_t seed_;
  int64_t epoch_ = -1;
  std::vector<size_t> order_;
};

// An SFT completion for p: "<answer>EQ</answer>" (or "<think>TRACE</think><answer>EQ</answer>"), one of the
// solver's solutions drawn from `rng`. The caller appends EOS.
std::string countdown_sft_completion(const CountdownProblem& p, std::mt19937_64& rng, const CountdownTaskConfig& cfg);

}  // namespace grpo::rl
