// The added-token trie and splitter. See added_tokens.h.
#include "policy/tokenizer/added_tokens.h"

#include <utf8proc.h>

#include "kernels/check.h"
#include "policy/tokenizer/unicode.h"

namespace grpo::policy {
namespace {

bool is_word_char(uint32_t cp) {
  if (cp == '_') return true;
  const auto c = utf8proc_category(static_cast<utf8proc_int32_t>(cp));
  return (c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO) ||
         (c >= UTF8PROC_CATEGORY_ND && c <= UTF8PROC_CATEGORY_NO);
}

// Code point that ends just before byte i (i > 0).
uint32_t code_point_before(std::string_view s, size_t i) {
  size_t j = i - 1;
  while (j > 0 && (static_cast<unsigned char>(s[j]) & 0xC0) == 0x80) --j;
  return next_code_point(s, j);
}

}  // namespace

AddedTokenMatcher::AddedTokenMatcher(const std::vector<AddedToken>& tokens) : tokens_(tokens) {
  trie_.emplace_back();
  terminal_.push_back(-1);
  for (size_t t = 0; t < tokens_.size(); ++t) {
    const std::string& c = tokens_[t].content;
    GRPO_CHECK(!c.empty(), "added token ", tokens_[t].id, " has empty content");
    by_id_[tokens_[t].id] = t;
    int32_t node = 0;
    for (char ch : c) {
      auto b = static_cast<unsigned char>(ch);
      auto it = trie_[static_cast<size_t>(node)].find(b);
      if (it == trie_[static_cast<size_t>(node)].end()) {
        const auto child = static_cast<int32_t>(trie_.size());
        trie_[static_cast<size_t>(node)][b] = child;
        trie_.emplace_back();
        terminal_.push_back(-1);
        node = child;
      } else {
        node = it->second;
      }
    }
    terminal_[static_cast<size_t>(node)] = static_cast<int32_t>(t);  // a repeated content keeps the last id
    first_byte_[static_cast<unsigned char>(c[0])] = true;
  }
}

const AddedToken* AddedTokenMatcher::find_id(int64_t id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &tokens_[it->second];
}

const AddedToken* AddedTokenMatcher::find_content(std::string_view content) const {
  size_t len = 0;
  const int t = content.empty() ? -1 : longest_at(content, 0, &len);
  return t >= 0 && len == content.size() ? &tokens_[static_cast<size_t>(t)] : nullptr;
}

int AddedTokenMatcher::longest_at(std::string_view text, size_t i, size_t* len) const {
  int best = -1;
  int32_t node = 0;
  for (size_t j = i; j < text.size(); ++j) {
    const auto& children = trie_[static_cast<size_t>(node)];
    auto it = children.find(static_cast<unsigned char>(text[j]));
    if (it == children.end()) break;
    node = it->second;
    if (terminal_[static_cast<size_t>(node)] >= 0) {
      best = terminal_[static_cast<size_t>(node)];
      *len = j + 1 - i;
    }
  }
  return best;
}

void AddedTokenMatcher::split(std::string_view text, std::vector<Segment>& out) const {
  size_t gap = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if (!first_byte_[static_cast<unsigned char>(text[i])]) continue;
    size_t len = 0;
    const int t = longest_at(text, i, &len);
    if (t < 0) continue;
    const AddedToken& tok = tokens_[static_cast<size_t>(t)];
    size_t b = i, e = i + len;
    if (tok.single_word) {
      const bool word_before = b > 0 && is_word_char(code_point_before(text, b));
      size_t k = e;
      const bool word_after = e < text.size() && is_word_char(next_code_point(text, k));
      if (word_before || word_after) continue;
    }
    if (tok.lstrip) {
      while (b > gap && is_unicode_space(code_point_before(text, b))) {
        --b;
        while (b > gap && (static_cast<unsigned char>(text[b]) & 0xC0) == 0x80) --b;
      }
    }
    if (tok.rstrip) {
      size_t k = e;
      while (k < text.size()) {
        size_t next = k;
        if (!is_unicode_space(next_code_point(text, next))) break;
        k = next;
      }
      e = k;
    }
    if (b > gap) out.push_back({text.substr(gap, b - gap), -1});
    out.push_back({text.substr(b, e - b), tok.id});
    gap = e;
    i = e - 1;
  }
  if (gap < text.size()) out.push_back({text.substr(gap), -1});
}

}  // namespace grpo::policy
