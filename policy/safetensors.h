// Safetensors read (mmap, header fully validated on open) and write (atomic), single files and sharded
// Hugging Face checkpoint directories (model.safetensors.index.json).
// Deliberately torch-free: plain bytes, dtype and shape; wrapping views into at::Tensor happens in policy/load.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace grpo::policy {

// The dtypes of the safetensors format we read and write (the newer F4/F6/E8M0/FNUZ/C64 are rejected).
enum class DType { BOOL, U8, I8, F8_E5M2, F8_E4M3, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64 };

const char* dtype_name(DType dtype);      // "F32", as written in the header
size_t dtype_size(DType dtype);           // bytes per element
DType parse_dtype(const std::string& s);  // throws grpo::Error naming the unknown string

struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;   // empty for a 0-rank scalar
  uint64_t begin = 0, end = 0;  // byte offsets relative to the start of the data buffer, end exclusive
  int64_t numel() const;        // 1 for a scalar, 0 when any dim is 0
  uint64_t nbytes() const { return end - begin; }
};

// The parsed and validated header of one safetensors file.
struct SafetensorsHeader {
  std::vector<TensorInfo> tensors;              // in header order
  std::map<std::string, std::string> metadata;  // "__metadata__", empty when absent
  uint64_t data_start = 0;                      // 8 + header length: where the data buffer begins in the file
  uint64_t data_size = 0;                       // bytes in the data buffer; data_start + data_size == file size
};

// Parses and validates a whole safetensors file held in memory (`size` bytes at `data`). `label` names the
// file in error messages. Throws grpo::Error on any malformed input; never reads outside [data, data + size).
// On success every tensor satisfies begin <= end <= data_size and end - begin == numel * dtype_size.
SafetensorsHeader parse_header(const uint8_t* data, size_t size, const std::string& label);

// Read-only mmap of one .safetensors file; header fully validated on open.
class SafetensorsFile {
 public:
  static std::shared_ptr<SafetensorsFile> open(const std::string& path);
  ~SafetensorsFile();  // munmap
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  const std::vector<TensorInfo>& tensors() const { return header_.tensors; }  // in header order
  const TensorInfo* find(const std::string& name) const;                      // nullptr if absent
  const TensorInfo& at(const std::string& name) const;                        // throws naming the file and the tensor
  // Pointer to the tensor's first byte inside the mapping. NOTE: may be unaligned (old writers did not pad).
  const uint8_t* data(const TensorInfo& t) const;
  const std::map<std::string, std::string>& metadata() const { return header_.metadata; }
  uint64_t file_size() const { return size_; }
  // Drops the pages wholly inside the tensor's bytes from this process's memory (madvise DONTNEED; the file and
  // the page cache are untouched, a later read faults them back in). Call once a tensor has been copied out, so
  // loading a model does not hold the model twice in RSS.
  void release(const TensorInfo& t) const;
  // Copies the tensor's bytes into `dst` (t.nbytes() bytes) with pread from the file: no page faults on the
  // mapping and nothing added to RSS but the destination. Faster than reading through the mapping for big tensors.
  void read_into(const TensorInfo& t, void* dst) const;

 private:
  SafetensorsFile() = default;
  std::string path_;
  const uint8_t* base_ = nullptr;  // nullptr for an empty mapping
  size_t size_ = 0;
  int fd_ = -1;                    // kept open for read_into
  SafetensorsHeader header_;
  std::unordered_map<std::string, size_t> index_;  // name -> position in header_.tensors
};

// A checkpoint directory: model.safetensors, or shards through model.safetensors.index.json (weight_map).
class SafetensorsCheckpoint {
 public:
  // Throws if neither file exists (naming the dir), or if any file or the index is invalid.
  // NOTE: model.safetensors wins when both exist, as in transformers.
  static SafetensorsCheckpoint open_dir(const std::string& dir);

  const std::string& dir() const { return dir_; }
  std::vector<std::string> names() const;  // sorted
  bool contains(const std::string& name) const;
  // The file and info holding `name`; throws naming the tensor and the dir.
  std::pair<const SafetensorsFile*, const TensorInfo*> locate(const std::string& name) const;

 private:
  std::string dir_;
  std::vector<std::shared_ptr<SafetensorsFile>> files_;
  std::map<std::string, std::pair<const SafetensorsFile*, const TensorInfo*>> by_name_;
};

// A tensor to write: `nbytes` contiguous little-endian row-major bytes at `data`.
struct TensorView {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const void* data = nullptr;
  uint64_t nbytes = 0;
};

// Writes one file: header {"__metadata__": metadata, name: {dtype, shape, data_offsets}} padded with spaces to a
// multiple of 8, tensors ordered by dtype size descending then name (the reference writer's order, so every
// tensor is aligned to its element size). An empty `metadata` omits "__metadata__".
// Atomic: writes path + ".tmp.<pid>", fsyncs, renames over path. Validates nbytes == numel * dtype_size and
// unique names.
void write_safetensors(const std::string& path, const std::vector<TensorView>& tensors,
                       const std::map<std::string, std::string>& metadata = {{"format", "pt"}});

// Writes a checkpoint's weights into an existing directory: model.safetensors if the total tensor bytes are
// <= max_shard_bytes, else model-0000i-of-0000K.safetensors shards (tensors in the given order, a new shard when
// the next tensor would overflow the current one) + model.safetensors.index.json
// {"metadata":{"total_size":N},"weight_map":{...}}. Removes the other layout's files left from an earlier
// write (a stale model.safetensors would otherwise shadow the new shards).
void write_safetensors_dir(const std::string& dir, const std::vector<TensorView>& tensors,
                           uint64_t max_shard_bytes = 5ull << 30);

}  // namespace grpo::policy
