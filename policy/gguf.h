// GGUF files (llama.cpp's format, v2 and v3): the header parsed and validated in full (every key/value, typed;
// every tensor's name, dims, type and offset), and a read-only mmap of the file. Every length is checked against the
// file size before anything is allocated, so a truncated or hostile file ends in one grpo::Error naming the file and
// the problem, never in a crash or a huge allocation.
// Deliberately torch-free (like safetensors.h): the dequantization is gguf_quants.h, the mapping of llama.cpp
// tensor names onto a Hugging Face checkpoint is gguf_convert.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace grpo::policy {

// The type of a metadata value (gguf.h's gguf_type).
enum class GgufType : uint32_t {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, Bool = 7, String = 8, Array = 9,
  U64 = 10, I64 = 11, F64 = 12
};
const char* gguf_type_name(GgufType type);  // "u32", "string", ...

// One metadata value. Strings and array elements are views into the bytes the header was parsed from (the mapping
// of a GgufFile), valid while they are.
struct GgufValue {
  GgufType type = GgufType::U8;
  GgufType elem_type = GgufType::U8;  // arrays: the element type (nested arrays are refused)
  uint64_t count = 0;                 // arrays: the number of elements
  const uint8_t* data = nullptr;      // scalars: the value's bytes; arrays of scalars: the first element's
  std::string_view str;               // strings
  std::vector<std::string_view> strings;  // arrays of strings
};

// A tensor type of ggml (ggml.h's ggml_type): the block layout, whether or not we can dequantize it.
struct GgmlTypeInfo {
  uint32_t id;
  const char* name;     // "Q4_1", as gguf-py spells it
  uint32_t block_size;  // elements per block
  uint32_t type_size;   // bytes per block
};
// The row of a type id; nullptr for an id ggml does not define (or has retired).
const GgmlTypeInfo* ggml_type_info(uint32_t id);
constexpr uint32_t kGgmlF32 = 0, kGgmlF16 = 1, kGgmlQ4_0 = 2, kGgmlQ4_1 = 3, kGgmlQ8_0 = 8, kGgmlBF16 = 30;

struct GgufTensorInfo {
  std::string name;
  uint32_t type = kGgmlF32;
  std::vector<int64_t> ne;  // GGUF order: ne[0] is the fastest-moving dimension (1 to 4 dims)
  uint64_t offset = 0;      // from the start of the data section; a multiple of the alignment
  uint64_t nbytes = 0;      // numel / block_size * type_size
  int64_t numel = 0;
  const char* type_name() const;  // "Q4_1"
  // The PyTorch shape: ne reversed ([ne1, ne0] for a matrix of ne1 rows of ne0 elements).
  std::vector<int64_t> shape() const;
};

// The parsed and validated header.
struct GgufHeader {
  uint32_t version = 0;
  std::vector<std::pair<std::string, GgufValue>> kv;  // in file order
  std::vector<GgufTensorInfo> tensors;                // in file order
  uint64_t alignment = 32;                            // general.alignment (default 32)
  uint64_t data_start = 0;  // file offset of the data section (may lie past the end in a file without tensors)
  std::string label;        // the file, for error messages

  const GgufValue* find(const std::string& key) const;  // nullptr if absent
  const GgufTensorInfo* find_tensor(const std::string& name) const;
  // Typed reads; each throws naming the file and key when the key is present with another type. Any integer type
  // reads as an integer (a u64 above INT64_MAX is refused); F32/F64 read as a float.
  std::optional<std::string> get_string(const std::string& key) const;
  std::optional<int64_t> get_int(const std::string& key) const;
  std::optional<double> get_float(const std::string& key) const;
  std::optional<bool> get_bool(const std::string& key) const;
  // Arrays: strings; integers (I32/U32 elements; a U32 above INT32_MAX is refused); F32. Empty when absent.
  std::vector<std::string_view> get_string_array(const std::string& key) const;
  std::vector<int32_t> get_int32_array(const std::string& key) const;
  std::vector<float> get_float_array(const std::string& key) const;

 private:
  friend GgufHeader parse_gguf(const uint8_t*, size_t, const std::string&);
  std::unordered_map<std::string, size_t> kv_index_, tensor_index_;
};

// Parses and validates a whole GGUF file held in memory (`size` bytes at `data`); never reads outside them.
// On success: magic and version (2 or 3) checked; keys unique; general.alignment a power of two; tensor names
// unique, non-empty and at most 64 bytes; 1 to 4 dims, none negative, their product without overflow; every type
// known to ggml, ne[0] a multiple of its block size; every offset aligned; every tensor inside the file; no two
// tensors overlapping. A file without tensors (a llama.cpp vocabulary file) may end before its aligned data section.
GgufHeader parse_gguf(const uint8_t* data, size_t size, const std::string& label);

// Read-only mmap of a GGUF file, header validated on open.
class GgufFile {
 public:
  static std::shared_ptr<GgufFile> open(const std::string& path);
  ~GgufFile();
  GgufFile(const GgufFile&) = delete;
  GgufFile& operator=(const GgufFile&) = delete;

  const std::string& path() const { return header_.label; }
  const GgufHeader& header() const { return header_; }
  const std::vector<GgufTensorInfo>& tensors() const { return header_.tensors; }
  // The tensor's first byte inside the mapping (t.nbytes bytes follow).
  const uint8_t* data(const GgufTensorInfo& t) const;

 private:
  GgufFile() = default;
  const uint8_t* base_ = nullptr;  // nullptr for an empty file
  size_t size_ = 0;
  GgufHeader header_;
};

}  // namespace grpo::policy
