// GGUF metadata reader for tokenizer.ggml.* keys. See gguf_vocab.h.
#include "policy/tokenizer/gguf_vocab.h"

#include <cstring>
#include <fstream>

#include "kernels/check.h"

namespace grpo::policy {
namespace {

enum GgufType : uint32_t {
  kU8 = 0, kI8 = 1, kU16 = 2, kI16 = 3, kU32 = 4, kI32 = 5, kF32 = 6, kBool = 7,
  kString = 8, kArray = 9, kU64 = 10, kI64 = 11, kF64 = 12
};

class Reader {
 public:
  explicit Reader(const std::string& path) : path_(path), in_(path, std::ios::binary) {
    GRPO_CHECK(in_.good(), "cannot open ", path, "; hint: check the path");
    in_.seekg(0, std::ios::end);
    size_ = static_cast<uint64_t>(in_.tellg());
    in_.seekg(0);
  }
  void bytes(void* dst, uint64_t n, const std::string& what) {
    GRPO_CHECK(n <= size_ - pos_, path_, ": truncated while reading ", what, " (needs ", n, " bytes at offset ", pos_,
               ", file has ", size_, "); hint: the file is incomplete");
    in_.read(static_cast<char*>(dst), static_cast<std::streamsize>(n));
    GRPO_CHECK(in_.good(), path_, ": read error at offset ", pos_);
    pos_ += n;
  }
  template <typename T>
  T pod(const std::string& what) {
    T v;
    bytes(&v, sizeof(T), what);
    return v;
  }
  std::string string(const std::string& what) {
    const auto n = pod<uint64_t>(what);
    GRPO_CHECK(n <= size_ - pos_, path_, ": ", what, " claims a string of ", n, " bytes past the end of the file");
    std::string s(n, '\0');
    bytes(s.data(), n, what);
    return s;
  }
  uint64_t remaining() const { return size_ - pos_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::ifstream in_;
  uint64_t size_ = 0, pos_ = 0;
};

size_t scalar_size(uint32_t type) {
  switch (type) {
    case kU8: case kI8: case kBool: return 1;
    case kU16: case kI16: return 2;
    case kU32: case kI32: case kF32: return 4;
    case kU64: case kI64: case kF64: return 8;
    default: return 0;
  }
}

// A scalar of any integer type as int64.
int64_t read_int(Reader& r, uint32_t type, const std::string& key) {
  switch (type) {
    case kU8: return r.pod<uint8_t>(key);
    case kI8: return r.pod<int8_t>(key);
    case kU16: return r.pod<uint16_t>(key);
    case kI16: return r.pod<int16_t>(key);
    case kU32: return r.pod<uint32_t>(key);
    case kI32: return r.pod<int32_t>(key);
    case kU64: return static_cast<int64_t>(r.pod<uint64_t>(key));
    case kI64: return r.pod<int64_t>(key);
    case kBool: return r.pod<uint8_t>(key) != 0;
    default: GRPO_FAIL(r.path(), ": key ", key, " has type ", type, ", expected an integer");
  }
}

void skip_value(Reader& r, uint32_t type, const std::string& key, int depth = 0) {
  GRPO_CHECK(depth < 4, r.path(), ": key ", key, " nests arrays too deeply");
  if (type == kString) {
    r.string(key);
  } else if (type == kArray) {
    const auto et = r.pod<uint32_t>(key);
    const auto n = r.pod<uint64_t>(key);
    for (uint64_t i = 0; i < n; ++i) skip_value(r, et, key, depth + 1);
  } else {
    const size_t s = scalar_size(type);
    GRPO_CHECK(s > 0, r.path(), ": key ", key, " has unknown type ", type, "; hint: not a GGUF v2/v3 file?");
    char buf[8];
    r.bytes(buf, s, key);
  }
}

// Reads the array header of `key`, checking the element type and that n elements can fit in the file.
uint64_t array_header(Reader& r, uint32_t type, const std::string& key, uint32_t want, size_t min_elem) {
  GRPO_CHECK(type == kArray, r.path(), ": key ", key, " is not an array");
  const auto et = r.pod<uint32_t>(key);
  GRPO_CHECK(et == want || (want == kI32 && (et == kU32 || et == kI32)), r.path(), ": key ", key,
             " has element type ", et, ", expected ", want);
  const auto n = r.pod<uint64_t>(key);
  GRPO_CHECK(n <= r.remaining() / min_elem, r.path(), ": key ", key, " claims ", n,
             " elements, more than the file holds; hint: the file is truncated or corrupt");
  return n;
}

}  // namespace

GgufVocab read_gguf_vocab(const std::string& path) {
  Reader r(path);
  char magic[4];
  r.bytes(magic, 4, "magic");
  GRPO_CHECK(std::memcmp(magic, "GGUF", 4) == 0, path, ": not a GGUF file (bad magic)");
  const auto version = r.pod<uint32_t>("version");
  GRPO_CHECK(version == 2 || version == 3, path, ": GGUF version ", version, " is not supported; hint: v2 and v3 are");
  r.pod<uint64_t>("tensor count");
  const auto n_kv = r.pod<uint64_t>("key/value count");
  GRPO_CHECK(n_kv <= r.remaining() / 12, path, ": key/value count ", n_kv, " exceeds the file");
  GgufVocab v;
  for (uint64_t k = 0; k < n_kv; ++k) {
    const std::string key = r.string("key " + std::to_string(k));
    const auto type = r.pod<uint32_t>(key);
    if (key == "tokenizer.ggml.model" || key == "tokenizer.ggml.pre") {
      GRPO_CHECK(type == kString, path, ": key ", key, " is not a string");
      (key == "tokenizer.ggml.model" ? v.model : v.pre) = r.string(key);
    } else if (key == "tokenizer.ggml.tokens" || key == "tokenizer.ggml.merges") {
      const uint64_t n = array_header(r, type, key, kString, 8);
      auto& dst = key == "tokenizer.ggml.tokens" ? v.tokens : v.merges;
      dst.reserve(n);
      for (uint64_t i = 0; i < n; ++i) dst.push_back(r.string(key));
    } else if (key == "tokenizer.ggml.token_type") {
      const uint64_t n = array_header(r, type, key, kI32, 4);
      v.token_types.resize(n);
      r.bytes(v.token_types.data(), n * 4, key);
    } else if (key == "tokenizer.ggml.scores") {
      const uint64_t n = array_header(r, type, key, kF32, 4);
      v.scores.resize(n);
      r.bytes(v.scores.data(), n * 4, key);
    } else if (key == "tokenizer.ggml.bos_token_id") {
      v.bos_id = read_int(r, type, key);
    } else if (key == "tokenizer.ggml.eos_token_id") {
      v.eos_id = read_int(r, type, key);
    } else if (key == "tokenizer.ggml.padding_token_id") {
      v.pad_id = read_int(r, type, key);
    } else if (key == "tokenizer.ggml.unknown_token_id") {
      v.unk_id = read_int(r, type, key);
    } else if (key == "tokenizer.ggml.add_bos_token") {
      v.add_bos = read_int(r, type, key) != 0;
    } else {
      skip_value(r, type, key);
    }
  }
  GRPO_CHECK(!v.tokens.empty(), path, ": no tokenizer.ggml.tokens; hint: this GGUF file carries no vocabulary");
  GRPO_CHECK(v.token_types.empty() || v.token_types.size() == v.tokens.size(), path,
             ": tokenizer.ggml.token_type has ", v.token_types.size(), " entries for ", v.tokens.size(), " tokens");
  for (int64_t id : {v.bos_id, v.eos_id, v.pad_id, v.unk_id})
    GRPO_CHECK(id < static_cast<int64_t>(v.tokens.size()), path, ": special token id ", id,
               " is outside the vocabulary of ", v.tokens.size());
  return v;
}

}  // namespace grpo::policy
