// The tokenizer.ggml.* keys of a GGUF file. See gguf_vocab.h; the header itself is parsed by policy/gguf.h.
#include "policy/tokenizer/gguf_vocab.h"

#include "kernels/check.h"
#include "policy/gguf.h"

namespace grpo::policy {

GgufVocab read_gguf_vocab(const std::string& path) {
  const auto file = GgufFile::open(path);
  const GgufHeader& h = file->header();
  GgufVocab v;
  v.model = h.get_string("tokenizer.ggml.model").value_or("");
  v.pre = h.get_string("tokenizer.ggml.pre").value_or("");
  for (std::string_view t : h.get_string_array("tokenizer.ggml.tokens")) v.tokens.emplace_back(t);
  for (std::string_view m : h.get_string_array("tokenizer.ggml.merges")) v.merges.emplace_back(m);
  v.token_types = h.get_int32_array("tokenizer.ggml.token_type");
  v.scores = h.get_float_array("tokenizer.ggml.scores");
  v.bos_id = h.get_int("tokenizer.ggml.bos_token_id").value_or(-1);
  v.eos_id = h.get_int("tokenizer.ggml.eos_token_id").value_or(-1);
  v.pad_id = h.get_int("tokenizer.ggml.padding_token_id").value_or(-1);
  v.unk_id = h.get_int("tokenizer.ggml.unknown_token_id").value_or(-1);
  v.add_bos = h.get_bool("tokenizer.ggml.add_bos_token").value_or(false);
  v.chat_template = h.get_string("tokenizer.chat_template").value_or("");
  GRPO_CHECK(!v.tokens.empty(), path, ": no tokenizer.ggml.tokens; hint: this GGUF file carries no vocabulary");
  GRPO_CHECK(v.token_types.empty() || v.token_types.size() == v.tokens.size(), path,
             ": tokenizer.ggml.token_type has ", v.token_types.size(), " entries for ", v.tokens.size(), " tokens");
  for (int64_t id : {v.bos_id, v.eos_id, v.pad_id, v.unk_id})
    GRPO_CHECK(id < static_cast<int64_t>(v.tokens.size()), path, ": special token id ", id,
               " is outside the vocabulary of ", v.tokens.size());
  return v;
}

}  // namespace grpo::policy
