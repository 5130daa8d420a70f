// The boundary between grpo.cpp and libsentencepiece. Debian's libsentencepiece carries its own copy of
// protobuf-lite and exports it; LibTorch loads the full libprotobuf. Linked into one program, whichever loads
// first interposes the other's symbols and the program crashes before main (seen here: a segfault in
// protobuf's static initialisers). So sentencepiece lives in a small module (spm_module.cpp ->
// grpo_spm.so) that the tokenizer dlopen()s with RTLD_LOCAL | RTLD_DEEPBIND: each protobuf binds to its own.
// This header is the module's whole interface: a table of plain functions.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace grpo::policy {

struct SpmApi {
  // Returns a processor, or nullptr with *error set.
  void* (*load)(const std::string& model_bytes, std::string* error);
  void (*release)(void* sp);
  bool (*encode)(void* sp, const std::string& text, std::vector<int>* ids, std::string* error);
  bool (*decode)(void* sp, const std::vector<int>& ids, std::string* text, std::string* error);
  int (*piece_size)(void* sp);
  std::string (*id_to_piece)(void* sp, int id);
  int (*piece_to_id)(void* sp, const std::string& piece);
  bool (*is_control)(void* sp, int id);
  int (*bos_id)(void* sp);
  int (*eos_id)(void* sp);
  int (*unk_id)(void* sp);
  int (*pad_id)(void* sp);
};

// The exported entry point of the module; `extern "C"` so dlsym finds it by this name.
extern "C" const SpmApi* grpo_spm_api();

// Loads the module once (GRPO_SPM_MODULE environment variable, else the path CMake built it at, else beside the
// executable) and returns its table; throws naming the paths tried.
const SpmApi& spm_api();

}  // namespace grpo::policy
