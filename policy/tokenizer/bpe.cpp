// The BPE merge loop and its tables. See bpe.h.
#include "policy/tokenizer/bpe.h"

#include <algorithm>
#include <queue>

#include "kernels/check.h"
#include "policy/tokenizer/unicode.h"

namespace grpo::policy {

BpeModel::BpeModel(std::vector<std::string> vocab, const std::vector<std::pair<std::string, std::string>>& merges,
                   bool ignore_merges, const std::string& label)
    : vocab_(std::move(vocab)), ignore_merges_(ignore_merges) {
  GRPO_CHECK(!vocab_.empty(), label, ": the vocabulary is empty; hint: model.vocab must list the tokens");
  GRPO_CHECK(vocab_.size() < (size_t{1} << 31), label, ": vocabulary too large");
  token_to_id_.reserve(vocab_.size());
  bytes_.resize(vocab_.size());
  for (size_t id = 0; id < vocab_.size(); ++id) {
    const std::string& t = vocab_[id];
    if (t.empty()) continue;
    const bool fresh = token_to_id_.emplace(std::string_view(t), static_cast<int32_t>(id)).second;
    GRPO_CHECK(fresh, label, ": token '", t, "' appears twice in the vocabulary (ids ", token_to_id_[t], " and ", id,
               ")");
    std::string& raw = bytes_[id];
    for (size_t i = 0; i < t.size();) {
      const size_t start = i;
      const uint32_t cp = next_code_point(t, i);
      const int b = code_point_to_byte(cp);
      if (b >= 0) raw += static_cast<char>(b);
      else raw.append(t, start, i - start);  // not a byte-level character: keep it as text
    }
  }
  // NOTE: some vocabularies lack a few bytes (SmolLM2 has no token for 21 of them: bytes invalid in UTF-8 and rare
  // control characters). Such a byte is dropped from its piece, as Hugging Face tokenizers does for a BPE without an
  // unk_token; its neighbours may still merge. Printable ASCII must be there, or this is not a byte-level vocabulary.
  const auto& byte_cp = byte_to_code_point();
  for (int b = 0; b < 256; ++b) {
    std::string s;
    append_utf8(s, byte_cp[static_cast<size_t>(b)]);
    auto it = token_to_id_.find(s);
    GRPO_CHECK(it != token_to_id_.end() || b < 0x21 || b > 0x7e, label, ": no token for byte 0x", std::hex, b,
               "; hint: a byte-level BPE vocabulary has a token for each printable ASCII byte");
    byte_id_[b] = it == token_to_id_.end() ? -1 : it->second;
  }
  merges_.reserve(merges.size());
  for (size_t r = 0; r < merges.size(); ++r) {
    const auto& [a, b] = merges[r];
    auto ia = token_to_id_.find(a), ib = token_to_id_.find(b), iab = token_to_id_.find(a + b);
    GRPO_CHECK(ia != token_to_id_.end() && ib != token_to_id_.end(), label, ": merge ", r, " '", a, " ", b,
               "' names a token that is not in the vocabulary; hint: vocabulary and merges must come from one model");
    GRPO_CHECK(iab != token_to_id_.end(), label, ": merge ", r, " '", a, " ", b, "' makes '", a + b,
               "', which is not in the vocabulary");
    // NOTE: a pair listed twice keeps its last rank: Hugging Face collects the list into a hash map.
    merges_[pair_key(ia->second, ib->second)] = Merge{static_cast<int32_t>(r), iab->second};
  }
}

int64_t BpeModel::token_to_id(std::string_view token) const {
  auto it = token_to_id_.find(token);
  return it == token_to_id_.end() ? -1 : it->second;
}

std::vector<std::pair<std::string, std::string>> BpeModel::merge_list() const {
  std::vector<std::pair<int32_t, std::pair<std::string, std::string>>> ranked;
  ranked.reserve(merges_.size());
  for (const auto& [key, m] : merges_)
    ranked.push_back({m.rank, {vocab_[key >> 32], vocab_[key & 0xffffffffu]}});
  std::sort(ranked.begin(), ranked.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
  std::vector<std::pair<std::string, std::string>> out;
  out.reserve(ranked.size());
  for (auto& r : ranked) out.push_back(std::move(r.second));
  return out;
}

void BpeModel::merge_symbols(std::vector<int32_t>& sym) const {
  const int32_t n = static_cast<int32_t>(sym.size());
  std::vector<int32_t> prev(static_cast<size_t>(n)), next(static_cast<size_t>(n));
  for (int32_t i = 0; i < n; ++i) prev[i] = i - 1, next[i] = i + 1 < n ? i + 1 : -1;
  struct Cand {
    int32_t rank, pos, left, right, merged;
    bool operator>(const Cand& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::vector<Cand> storage;
  storage.reserve(static_cast<size_t>(n));
  std::priority_queue<Cand, std::vector<Cand>, std::greater<Cand>> heap(std::greater<Cand>(), std::move(storage));
  auto push = [&](int32_t pos) {
    const int32_t nx = next[pos];
    if (pos < 0 || nx < 0) return;
    auto it = merges_.find(pair_key(sym[pos], sym[nx]));
    if (it != merges_.end()) heap.push({it->second.rank, pos, sym[pos], sym[nx], it->second.id});
  };
  for (int32_t i = 0; i + 1 < n; ++i) push(i);
  while (!heap.empty()) {
    const Cand c = heap.top();
    heap.pop();
    const int32_t nx = next[c.pos];
    // Stale entry: the left symbol was merged away or changed, or its right neighbour changed.
    if (sym[c.pos] != c.left || nx < 0 || sym[nx] != c.right) continue;
    sym[c.pos] = c.merged;
    sym[nx] = -1;
    next[c.pos] = next[nx];
    if (next[nx] >= 0) prev[next[nx]] = c.pos;
    if (prev[c.pos] >= 0) push(prev[c.pos]);
    push(c.pos);
  }
  sym.erase(std::remove(sym.begin(), sym.end(), -1), sym.end());
}

void BpeModel::encode_piece(std::string_view piece, std::vector<int64_t>& out) const {
  if (piece.empty()) return;
  if (piece.size() == 1) {
    if (const int32_t id = byte_id_[static_cast<unsigned char>(piece[0])]; id >= 0) out.push_back(id);
    return;
  }
  const bool cacheable = piece.size() <= kCacheMaxPiece;
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mu_);
    auto it = cache_.find(piece);
    if (it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int32_t> sym;
  if (ignore_merges_) {
    const int64_t whole = token_to_id(bytes_to_byte_level(piece));
    if (whole >= 0) sym.push_back(static_cast<int32_t>(whole));
  }
  if (sym.empty()) {
    sym.reserve(piece.size());
    for (char c : piece)
      if (const int32_t id = byte_id_[static_cast<unsigned char>(c)]; id >= 0) sym.push_back(id);
    merge_symbols(sym);
  }
  out.insert(out.end(), sym.begin(), sym.end());
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mu_);
    if (cache_.size() >= kCacheCapacity) {
      cache_.clear();
      cache_keys_.clear();
    }
    cache_keys_.emplace_back(piece);
    cache_.emplace(std::string_view(cache_keys_.back()), std::move(sym));
  }
}

}  // namespace grpo::policy
