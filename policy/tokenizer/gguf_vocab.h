// Reads the tokenizer.ggml.* metadata of a GGUF file (v2/v3): the vocabulary, token types, merges, scores and
// special ids llama.cpp stores, and the chat template. The header is parsed and validated by policy/gguf.h (every
// length checked against the file size), so a truncated or hostile file fails with the file and problem named.
// Not a GGUF model loader (that is policy/gguf_convert.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace grpo::policy {

struct GgufVocab {
  std::string model;  // tokenizer.ggml.model: "gpt2" (byte-level BPE), "llama" (sentencepiece), ...
  std::string pre;    // tokenizer.ggml.pre: the pre-tokenizer name ("qwen2", "deepseek-llm", ...)
  std::vector<std::string> tokens;
  std::vector<int32_t> token_types;  // 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte
  std::vector<std::string> merges;   // "a b"
  std::vector<float> scores;
  int64_t bos_id = -1, eos_id = -1, pad_id = -1, unk_id = -1;
  bool add_bos = false;
  std::string chat_template;  // tokenizer.chat_template ("" when absent)
};

// Throws naming the file and key on a malformed file.
GgufVocab read_gguf_vocab(const std::string& path);

}  // namespace grpo::policy
