// Added tokens (<|im_start|>, <think>, <｜begin▁of▁sentence｜>, ...) are found in the text before any
// normalisation or BPE and map straight to their ids: leftmost match, the longest one where several start at
// the same place (Hugging Face's LeftmostLongest), with the lstrip / rstrip / single_word options. A byte trie;
// not Aho-Corasick, since candidates are rare and start with a few distinct bytes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace grpo::policy {

struct AddedToken {
  std::string content;
  int64_t id = -1;
  bool special = false;      // a control token (skipped by HF's skip_special_tokens; we render it as text)
  bool lstrip = false;       // the match swallows the whitespace on its left
  bool rstrip = false;       // ... and on its right
  bool single_word = false;  // matches only when not inside a word
  bool normalized = false;   // informational: we always match on the raw text (see NOTE in bpe_tokenizer.cpp)
};

class AddedTokenMatcher {
 public:
  AddedTokenMatcher() = default;
  explicit AddedTokenMatcher(const std::vector<AddedToken>& tokens);

  // Splits `text` into gaps (id == -1) and matched added tokens, in order.
  struct Segment {
    std::string_view text;
    int64_t id;
  };
  void split(std::string_view text, std::vector<Segment>& out) const;
  bool empty() const { return tokens_.empty(); }
  const std::vector<AddedToken>& tokens() const { return tokens_; }
  // The added token with this id, or nullptr.
  const AddedToken* find_id(int64_t id) const;
  const AddedToken* find_content(std::string_view content) const;

 private:
  // Longest token starting at text[i]: its index in tokens_ and length, or -1.
  int longest_at(std::string_view text, size_t i, size_t* len) const;

  std::vector<AddedToken> tokens_;
  std::vector<std::unordered_map<unsigned char, int32_t>> trie_;  // node -> byte -> child
  std::vector<int32_t> terminal_;                                  // node -> token index or -1
  bool first_byte_[256] = {};
  std::unordered_map<int64_t, size_t> by_id_;
};

}  // namespace grpo::policy
