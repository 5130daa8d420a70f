// The draw order of training records; see source.h.
#include "rl/data/source.h"

#include <algorithm>

#include "kernels/check.h"
#include "kernels/hash.h"

namespace grpo::rl::data {

DrawOrder::DrawOrder(size_t n, uint64_t seed) : n_(n), seed_(seed) {
  GRPO_CHECK(n_ > 0, "no training records to draw from; hint: check data.train");
}

size_t DrawOrder::index(int64_t draw) {
  GRPO_CHECK(draw >= 0, "DrawOrder: negative draw ", draw);
  const int64_t n = static_cast<int64_t>(n_);
  const int64_t epoch = draw / n;
  if (epoch != epoch_) {
    order_.resize(n_);
    for (size_t i = 0; i < n_; ++i) order_[i] = i;
    std::mt19937_64 rng(mix64(seed_ ^ mix64(static_cast<uint64_t>(epoch))));
    std::shuffle(order_.begin(), order_.end(), rng);
    epoch_ = epoch;
  }
  return order_[static_cast<size_t>(draw % n)];
}

uint64_t DrawOrder::draw_key(int64_t draw) const {
  return mix64(seed_ + 0x5eed) ^ mix64(static_cast<uint64_t>(draw));
}

}  // namespace grpo::rl::data
