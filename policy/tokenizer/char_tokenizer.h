// A character-level tokenizer for tiny recipes: a few special tokens (matched first, longest match), then one
// id per character of a fixed alphabet (printable ASCII and newline by default). Unknown characters map to
// <unk>. Saved as a Hugging Face tokenizer.json (WordLevel model, one-character Split, Fuse decoder) so
// `tokenizers` and transformers can load it; it is not a general WordLevel reader.
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include "policy/tokenizer/tokenizer.h"

namespace grpo::policy {

class CharTokenizer : public Tokenizer {
 public:
  // specials: <pad> <eos> <unk> first, then `extra_specials` (e.g. "<answer>"); then one id per alphabet char.
  explicit CharTokenizer(const std::vector<std::string>& extra_specials = default_extra_specials(),
                         const std::string& alphabet = default_alphabet());
  static std::vector<std::string> default_extra_specials();  // <think> </think> <answer> </answer>
  static std::string default_alphabet();                     // '\n' and ' '..'~'

  std::vector<int64_t> encode(std::string_view text) const override;
  std::string decode(const std::vector<int64_t>& ids) const override;
  int64_t vocab_size() const override { return static_cast<int64_t>(tokens_.size()); }
  int64_t eos_id() const override { return 1; }
  int64_t pad_id() const override { return 0; }
  int64_t unk_id() const { return 2; }
  int64_t token_to_id(std::string_view token) const override;
  std::string id_to_token(int64_t id) const override;
  std::string describe() const override;
  void save(const std::string& dir) const override;

  // Rebuilds from the JSON text written by save(); throws naming `label` and the field.
  static std::unique_ptr<CharTokenizer> from_json(const std::string& json_text, const std::string& label);

 private:
  std::vector<std::string> tokens_;       // id -> text
  size_t n_special_ = 0;                  // ids [0, n_special_) are special tokens
  int64_t char_to_id_[256];               // byte -> id, -1 if not in the alphabet
  std::unordered_map<std::string, int64_t> special_to_id_;
};

}  // namespace grpo::policy
