// The BPE model of byte-level tokenizers: vocabulary, merge table and the merge loop for one pre-tokenized
// piece. The loop keeps candidate pairs in a min-heap keyed by (rank, position), so it merges the lowest-rank
// pair, leftmost on ties, as Hugging Face's bpe/word.rs does, in O(n log n) for a piece of n bytes. Recent
// pieces are cached. Not here: added tokens, normalisation and regexes (bpe_tokenizer.h).
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace grpo::policy {

class BpeModel {
 public:
  // vocab: id -> token in byte-level form ("Ġthe"); an empty string marks an id the model does not use
  // (added tokens live there). merges: pairs of tokens in rank order. Throws naming `label` when a merge
  // names an unknown token, a merged token is missing, or a printable ASCII byte has no token (other bytes without
  // a token are dropped when encoding, as Hugging Face tokenizers does).
  BpeModel(std::vector<std::string> vocab, const std::vector<std::pair<std::string, std::string>>& merges,
           bool ignore_merges, const std::string& label);

  // Appends the ids of one piece of raw bytes.
  void encode_piece(std::string_view piece, std::vector<int64_t>& out) const;

  int64_t size() const { return static_cast<int64_t>(vocab_.size()); }
  const std::string& token(int64_t id) const { return vocab_[static_cast<size_t>(id)]; }
  // Raw bytes a token stands for (the inverse of the byte-level map).
  const std::string& token_bytes(int64_t id) const { return bytes_[static_cast<size_t>(id)]; }
  int64_t token_to_id(std::string_view token) const;  // -1 if absent
  size_t n_merges() const { return merges_.size(); }
  bool ignore_merges() const { return ignore_merges_; }
  // Merges in rank order, as token pairs (for saving).
  std::vector<std::pair<std::string, std::string>> merge_list() const;

 private:
  struct Merge {
    int32_t rank;
    int32_t id;
  };
  static uint64_t pair_key(int32_t a, int32_t b) { return (uint64_t(uint32_t(a)) << 32) | uint32_t(b); }
  void merge_symbols(std::vector<int32_t>& sym) const;

  std::vector<std::string> vocab_;
  std::vector<std::string> bytes_;
  std::unordered_map<std::string_view, int32_t> token_to_id_;  // views into vocab_
  std::unordered_map<uint64_t, Merge> merges_;
  int32_t byte_id_[256];  // -1: the vocabulary has no token for this byte
  bool ignore_merges_ = false;

  // Cache of recent pieces: raw bytes -> ids. Keys view into cache_keys_; cleared when full.
  static constexpr size_t kCacheCapacity = 1 << 16;
  static constexpr size_t kCacheMaxPiece = 128;
  mutable std::mutex cache_mu_;
  mutable std::deque<std::string> cache_keys_;
  mutable std::unordered_map<std::string_view, std::vector<int32_t>> cache_;
};

}  // namespace grpo::policy
