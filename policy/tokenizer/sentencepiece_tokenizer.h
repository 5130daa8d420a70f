// SentencePiece `.model` tokenizers (Llama-2, Mistral, Mixtral) through libsentencepiece (loaded as a module,
// see spm_module.h): byte fallback and
// the leading "▁" come from the library (user-defined pieces too). Control pieces written in the text ("<s>") are
// matched first, as Hugging Face's LlamaTokenizer does; each stretch between them is encoded on its own.
// Not a sentencepiece reimplementation.
#pragma once

#include <memory>
#include <string>

#include "policy/tokenizer/added_tokens.h"
#include "policy/tokenizer/tokenizer.h"

namespace grpo::policy {

class SentencePieceTokenizer : public Tokenizer {
 public:
  // `config_path` (tokenizer_config.json, may not exist) can turn add_bos_token off; Llama-2 adds BOS.
  explicit SentencePieceTokenizer(const std::string& model_path, const std::string& config_path = "");
  ~SentencePieceTokenizer() override;
  SentencePieceTokenizer(const SentencePieceTokenizer&) = delete;
  SentencePieceTokenizer& operator=(const SentencePieceTokenizer&) = delete;

  std::vector<int64_t> encode(std::string_view text) const override;
  std::string decode(const std::vector<int64_t>& ids) const override;
  int64_t vocab_size() const override;
  int64_t eos_id() const override;
  int64_t pad_id() const override;
  int64_t bos_id() const override;
  bool adds_bos() const override { return add_bos_; }
  int64_t token_to_id(std::string_view token) const override;
  std::string id_to_token(int64_t id) const override;
  void save(const std::string& dir) const override;
  std::string describe() const override;

 private:
  void* sp_ = nullptr;  // the module's processor
  std::string model_path_, model_bytes_, config_text_;
  AddedTokenMatcher specials_;
  bool add_bos_ = true;
};

}  // namespace grpo::policy
