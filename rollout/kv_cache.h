// The rollout's paged K/V cache: a pool of fixed-size blocks (policy::PagedKV holds the storage), reference counts
// so sequences can share blocks (the G samples of a group share their prompt's), and a prefix index that finds the
// cached blocks of a prompt's leading full blocks (a system prompt or few-shot header shared across groups). It does
// not decide who gets blocks: the engine's scheduler does.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "policy/attention.h"

namespace grpo::rollout {

class BlockPool {
 public:
  // n_block blocks of block_size tokens; block 0 is kept as scratch (padding writes land there), never handed out.
  BlockPool(const policy::ModelConfig& cfg, int64_t n_block, int64_t block_size, const at::TensorOptions& opts);

  policy::PagedKV& kv() { return kv_; }
  int64_t block_size() const { return kv_.block_size(); }
  int64_t capacity() const { return kv_.n_block() - 1; }  // blocks that can be handed out
  int64_t n_free() const { return static_cast<int64_t>(free_.size()); }
  int64_t n_used() const { return capacity() - n_free(); }
  int64_t peak_used() const { return peak_used_; }
  void reset_peak() { peak_used_ = n_used(); }
  static constexpr int64_t kScratch = 0;

  // A free block with reference count 1, or nothing when the pool is exhausted.
  std::optional<int64_t> allocate();
  void retain(int64_t block);
  // Drops one reference; at zero the block is free again and leaves the prefix index.
  void release(int64_t block);
  int64_t ref_count(int64_t block) const { return refs_[static_cast<size_t>(block)]; }
  // Copies one block's K/V (every layer) into another: copy-on-write of a shared partial block.
  void copy_block(int64_t from, int64_t to);

  // The prefix index: a full block is known by its parent block (-1 for a sequence's first) and its tokens, so a
  // match means the same tokens at the same positions after the same prefix. lookup retains the block it returns.
  std::optional<int64_t> lookup(int64_t parent, const std::vector<int64_t>& tokens);
  void publish(int64_t parent, const std::vector<int64_t>& tokens, int64_t block);

 private:
  using Key = std::pair<int64_t, std::vector<int64_t>>;
  policy::PagedKV kv_;
  std::vector<int64_t> free_;  // a stack: the most recently freed block is reused first
  std::vector<int64_t> refs_;
  using Index = std::map<Key, int64_t>;
  Index index_;
  std::vector<Index::iterator> entry_of_;  // per block: its entry in index_, or index_.end()
  int64_t peak_used_ = 0;
};

}  // namespace grpo::rollout
