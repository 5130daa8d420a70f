// Loaders that read Hugging Face and llama.cpp tokenizer files into a BpeTokenizerSpec: tokenizer.json, the
// older vocab.json + merges.txt pair (with tokenizer_config.json naming the tokenizer class), and the
// tokenizer.ggml.* arrays of a GGUF file. Each error names the file and the field. The dispatch over a
// directory or file is load_tokenizer() in tokenizer.h.
#pragma once

#include <string>

#include "policy/tokenizer/bpe_tokenizer.h"

namespace grpo::policy {

// tokenizer.json (model BPE with a ByteLevel pre-tokenizer); reads tokenizer_config.json beside it if present.
BpeTokenizerSpec read_tokenizer_json(const std::string& path);
// A directory with vocab.json, merges.txt and tokenizer_config.json (tokenizer_class picks the regexes).
BpeTokenizerSpec read_vocab_merges(const std::string& dir);
// A GGUF file with tokenizer.ggml.model "gpt2" (byte-level BPE); tokenizer.ggml.pre picks the regexes.
BpeTokenizerSpec read_gguf_bpe(const std::string& path);

// Reads a whole file; throws naming it when it cannot be opened.
std::string read_text_file(const std::string& path);
// Writes (replaces) a whole file through a temporary file renamed into place; throws naming it when the write fails.
void write_text_file(const std::string& path, const std::string& text);

}  // namespace grpo::policy
