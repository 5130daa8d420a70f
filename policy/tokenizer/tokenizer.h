// The tokenizer interface every recipe talks to: text <-> token ids, the ids of special tokens, and saving
// next to a checkpoint. Implementations: the character tokenizer of tiny recipes (char_tokenizer.h), byte-level
// BPE from tokenizer.json / vocab.json + merges.txt / GGUF (bpe_tokenizer.h) and sentencepiece .model files
// (sentencepiece_tokenizer.h). load_tokenizer() picks one from the files it finds.
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
  // Ids of `text` without BOS/EOS (Hugging Face's add_special_tokens=False). Special tokens written in the
  // text ("<|im_start|>") become their ids. Invalid UTF-8 is repaired (U+FFFD) first.
  virtual std::vector<int64_t> encode(std::string_view text) const = 0;
  // Special tokens are rendered as their text ("<answer>"); ids outside the vocabulary throw. The result is the
  // exact bytes of the tokens, which can end inside a multi-byte character.
  virtual std::string decode(const std::vector<int64_t>& ids) const = 0;
  virtual int64_t vocab_size() const = 0;
  virtual int64_t eos_id() const = 0;
  virtual int64_t pad_id() const = 0;
  virtual int64_t bos_id() const { return -1; }
  // Whether the model's post-processor prepends BOS (Llama, DeepSeek; not Qwen).
  virtual bool adds_bos() const { return false; }
  // Id of a token given by its text (a special token or a single piece); -1 if absent.
  virtual int64_t token_to_id(std::string_view token) const = 0;
  // The token's text as the vocabulary spells it ("Ġthe", "▁the", "<|im_end|>").
  virtual std::string id_to_token(int64_t id) const = 0;
  // Writes the tokenizer files (tokenizer.json or tokenizer.model, and tokenizer_config.json) into a directory.
  virtual void save(const std::string& dir) const = 0;
  // One line for logs: kind, sizes, source file.
  virtual std::string describe() const = 0;

  // encode() with BOS prepended when adds_bos() (Hugging Face's add_special_tokens=True).
  std::vector<int64_t> encode_with_bos(std::string_view text) const;
};

// Loads a tokenizer from a checkpoint directory (tokenizer.json, else vocab.json + merges.txt, else
// tokenizer.model) or from a file (tokenizer.json, *.gguf, *.model). Throws naming the file and field.
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path);

}  // namespace grpo::policy
