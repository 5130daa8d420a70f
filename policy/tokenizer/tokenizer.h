// The tokenizer interface every recipe talks to: text <-> token ids, the ids of special tokens, and saving
// next to a checkpoint. Implementations: the character tokenizer of tiny recipes (char_tokenizer.h); the
// byte-level BPE and sentencepiece tokenizers of real checkpoints come behind the same interface.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace grpo::policy {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  virtual std::vector<int64_t> encode(std::string_view text) const = 0;
  // Special tokens are rendered as their text ("<answer>"); ids outside the vocabulary throw.
  virtual std::string decode(const std::vector<int64_t>& ids) const = 0;
  virtual int64_t vocab_size() const = 0;
  virtual int64_t eos_id() const = 0;
  virtual int64_t pad_id() const = 0;
  // Id of a token given by its text (a special token or a single piece); -1 if absent.
  virtual int64_t token_to_id(std::string_view token) const = 0;
  // Writes tokenizer.json and tokenizer_config.json into an existing directory.
  virtual void save(const std::string& dir) const = 0;
};

// Loads the tokenizer saved in a checkpoint directory (tokenizer.json); throws naming the file and field.
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& dir);

}  // namespace grpo::policy
