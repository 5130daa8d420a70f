// Where a run's records come from, before any tokenizer: the train records, the named evaluation sets, and what a
// generator adds (a fresh view of a record per draw, an SFT response written on demand). Dataset files and the
// Countdown generator both produce one. Plus the draw order of training: epochs of fresh shuffles, draw i a pure
// function of (seed, i), so a resumed run sees exactly the records it would have seen.
#pragma once

#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "rl/data/dataset.h"

namespace grpo::rl::data {

struct EvalRecords {
  std::string name;  // the file's stem ("gsm8k_test"), or "heldout" for a generator's split
  std::vector<Record> records;
};

struct RecordSource {
  std::vector<Record> train;
  std::vector<EvalRecords> eval;
  // Optional: the record as training draw `key` shows it (Countdown: the numbers in a fresh order each draw).
  std::function<Record(const Record&, uint64_t key)> redraw;
  // Optional: an SFT response for a record (Countdown: one of the solver's solutions); else data.response_field.
  std::function<std::string(const Record&, std::mt19937_64& rng)> respond;
};

// Training order over n records: epoch e is a shuffle drawn from (seed, e).
class DrawOrder {
 public:
  DrawOrder(size_t n, uint64_t seed);
  size_t index(int64_t draw);  // REQUIRES: draw >= 0
  // The key a generator's redraw receives for draw i (independent of the order).
  uint64_t draw_key(int64_t draw) const;

 private:
  size_t n_;
  uint64_t seed_;
  int64_t epoch_ = -1;
  std::vector<size_t> order_;
};

}  // namespace grpo::rl::data
