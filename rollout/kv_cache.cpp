// Block pool with reference counts and a prefix index; see kv_cache.h.
#include "rollout/kv_cache.h"

#include <ATen/core/grad_mode.h>

#include "kernels/check.h"

namespace grpo::rollout {

BlockPool::BlockPool(const policy::ModelConfig& cfg, int64_t n_block, int64_t block_size, const at::TensorOptions& opts)
    : kv_(policy::PagedKV::allocate(cfg, n_block, block_size, opts)),
      refs_(static_cast<size_t>(n_block), 0),
      entry_of_(static_cast<size_t>(n_block), index_.end()) {
  GRPO_CHECK(n_block >= 2, "the KV block pool needs at least 2 blocks (one is scratch), got ", n_block);
  for (int64_t b = n_block - 1; b >= 1; --b) free_.push_back(b);
}

std::optional<int64_t> BlockPool::allocate() {
  if (free_.empty()) return std::nullopt;
  const int64_t b = free_.back();
  free_.pop_back();
  refs_[static_cast<size_t>(b)] = 1;
  peak_used_ = std::max(peak_used_, n_used());
  return b;
}

void BlockPool::retain(int64_t block) {
  GRPO_CHECK(block > 0 && block < kv_.n_block() && refs_[static_cast<size_t>(block)] > 0, "retain of block ", block,
             ", which is not in use");
  ++refs_[static_cast<size_t>(block)];
}

void BlockPool::release(int64_t block) {
  GRPO_CHECK(block > 0 && block < kv_.n_block() && refs_[static_cast<size_t>(block)] > 0, "release of block ", block,
             ", which is not in use");
  if (--refs_[static_cast<size_t>(block)] > 0) return;
  auto& entry = entry_of_[static_cast<size_t>(block)];
  if (entry != index_.end()) {
    index_.erase(entry);
    entry = index_.end();
  }
  free_.push_back(block);
}

void BlockPool::copy_block(int64_t from, int64_t to) {
  at::NoGradGuard no_grad;
  for (size_t l = 0; l < kv_.k.size(); ++l) {
    kv_.k[l][to].copy_(kv_.k[l][from]);
    kv_.v[l][to].copy_(kv_.v[l][from]);
  }
}

std::optional<int64_t> BlockPool::lookup(int64_t parent, const std::vector<int64_t>& tokens) {
  auto it = index_.find(Key{parent, tokens});
  if (it == index_.end()) return std::nullopt;
  retain(it->second);
  return it->second;
}

void BlockPool::publish(int64_t parent, const std::vector<int64_t>& tokens, int64_t block) {
  GRPO_CHECK(static_cast<int64_t>(tokens.size()) == block_size(), "publish: a block of ", tokens.size(),
             " tokens; only full blocks of ", block_size(), " are shared");
  auto [it, inserted] = index_.emplace(Key{parent, tokens}, block);
  if (inserted) entry_of_[static_cast<size_t>(block)] = it;
}

}  // namespace grpo::rollout
