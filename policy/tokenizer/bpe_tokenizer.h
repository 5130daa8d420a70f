// Byte-level BPE tokenizer (GPT-2, Qwen2/2.5/3, Llama-3, DeepSeek): added tokens -> NFC (when the model asks
// for it) -> regex pre-tokenizer -> byte-level BPE; decoding maps tokens back to bytes. Built from a
// BpeTokenizerSpec, which the loaders fill from tokenizer.json, vocab.json + merges.txt or a GGUF file
// (tokenizer_files.h). Input that is not valid UTF-8 is repaired first (each ill-formed subsequence becomes
// U+FFFD, as Python's errors="replace"), since Hugging Face tokenizers only accept valid strings.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "policy/tokenizer/added_tokens.h"
#include "policy/tokenizer/bpe.h"
#include "policy/tokenizer/pre_tokenizer.h"
#include "policy/tokenizer/tokenizer.h"

namespace grpo::policy {

struct BpeTokenizerSpec {
  std::vector<std::string> vocab;  // id -> byte-level token; "" where only an added token has that id
  std::vector<std::pair<std::string, std::string>> merges;  // rank order
  std::vector<AddedToken> added;
  bool nfc = false;                   // normalizer NFC
  std::vector<std::string> patterns;  // Isolated splits (Oniguruma syntax, as in tokenizer.json)
  bool add_prefix_space = false;      // ByteLevel add_prefix_space
  bool ignore_merges = false;         // BPE ignore_merges (Llama-3)
  int64_t bos_id = -1, eos_id = -1, pad_id = -1;
  bool add_bos = false;  // the post-processor prepends BOS (Llama-3, DeepSeek)
  std::string label;     // file name for errors
  // Original files, saved verbatim when present; otherwise save() writes them from the fields above.
  std::string tokenizer_json_text, tokenizer_config_text;
};

class BpeTokenizer : public Tokenizer {
 public:
  explicit BpeTokenizer(BpeTokenizerSpec spec);

  std::vector<int64_t> encode(std::string_view text) const override;
  std::string decode(const std::vector<int64_t>& ids) const override;
  int64_t vocab_size() const override { return vocab_size_; }
  int64_t eos_id() const override { return spec_.eos_id; }
  int64_t pad_id() const override { return spec_.pad_id >= 0 ? spec_.pad_id : spec_.eos_id; }
  int64_t bos_id() const override { return spec_.bos_id; }
  bool adds_bos() const override { return spec_.add_bos && spec_.bos_id >= 0; }
  int64_t token_to_id(std::string_view token) const override;
  std::string id_to_token(int64_t id) const override;
  void save(const std::string& dir) const override;
  std::string describe() const override;

  // tokenizer.json content equivalent to this tokenizer (what save() writes when no original exists).
  std::string to_tokenizer_json() const;

 private:
  void encode_text(std::string_view text, std::vector<int64_t>& out) const;  // no added tokens inside

  BpeTokenizerSpec spec_;  // vocab and merges moved out into bpe_
  BpeModel bpe_;
  PreTokenizer pre_;
  AddedTokenMatcher added_;
  int64_t vocab_size_ = 0;
};

}  // namespace grpo::policy
