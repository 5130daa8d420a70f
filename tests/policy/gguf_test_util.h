// A GGUF writer for tests: typed key/values, tensors with their bytes, and knobs to make the file lie (counts, dims,
// types, offsets), so the reader's checks can be reached one by one. Layout as ggml writes it: header, key/values,
// tensor infos, padding to the alignment, then each tensor's bytes at its (aligned) offset. Torch-free.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

namespace grpo::test {

class GgufBuilder {
 public:
  struct Tensor {
    std::string name;
    uint32_t type = 0;
    std::vector<uint64_t> ne;  // GGUF order
    std::string bytes;
    std::optional<uint64_t> offset;   // default: the next aligned offset after the previous tensor
    std::optional<uint32_t> n_dims;   // default: ne.size()
  };

  uint32_t version = 3;
  std::optional<uint64_t> tensor_count, kv_count;  // lies; default: the true counts
  uint64_t alignment = 32;                         // where the writer puts the data (general.alignment is a kv)
  std::vector<Tensor> tensors;

  // Key/values, appended in order.
  void u32(const std::string& key, uint32_t v) { scalar(key, 4, &v, 4); }
  void i32(const std::string& key, int32_t v) { scalar(key, 5, &v, 4); }
  void f32(const std::string& key, float v) { scalar(key, 6, &v, 4); }
  void boolean(const std::string& key, bool v) {
    const uint8_t b = v;
    scalar(key, 7, &b, 1);
  }
  void u64(const std::string& key, uint64_t v) { scalar(key, 10, &v, 8); }
  void string(const std::string& key, const std::string& v) {
    key_type(key, 8);
    put_string(kv_, v);
    ++n_kv_;
  }
  void strings(const std::string& key, const std::vector<std::string>& v) {
    key_type(key, 9);
    put(kv_, uint32_t(8));
    put(kv_, uint64_t(v.size()));
    for (const auto& s : v) put_string(kv_, s);
    ++n_kv_;
  }
  void i32s(const std::string& key, const std::vector<int32_t>& v) { array(key, 5, v.data(), 4, v.size()); }
  void f32s(const std::string& key, const std::vector<float>& v) { array(key, 6, v.data(), 4, v.size()); }
  // Any raw key/value bytes after the key (type and value), for malformed entries.
  void raw(const std::string& key, const std::string& type_and_value) {
    put_string(kv_, key);
    kv_ += type_and_value;
    ++n_kv_;
  }
  void tensor(const std::string& name, uint32_t type, std::vector<uint64_t> ne, std::string bytes) {
    tensors.push_back({name, type, std::move(ne), std::move(bytes), std::nullopt, std::nullopt});
  }

  // The offset of the data section in the file build() writes.
  uint64_t data_start() const { return align(header_bytes().size()); }

  std::string build() const {
    std::string out = header_bytes();
    out.resize(align(out.size()), '\0');
    const uint64_t start = out.size();
    for (size_t i = 0; i < tensors.size(); ++i) {
      if (offsets()[i] > (uint64_t(1) << 24)) continue;  // a lying offset far past the end: nothing written there
      const uint64_t at = start + offsets()[i];
      if (out.size() < at) out.resize(at, '\0');
      if (out.size() == at) out += tensors[i].bytes;
      else if (out.size() < at + tensors[i].bytes.size()) out.resize(at + tensors[i].bytes.size(), '\0');  // overlap
    }
    return out;
  }

  template <typename T>
  static void put(std::string& out, T v) {
    out.append(reinterpret_cast<const char*>(&v), sizeof(T));
  }
  static void put_string(std::string& out, const std::string& s) {
    put(out, uint64_t(s.size()));
    out += s;
  }

 private:
  uint64_t align(uint64_t n) const { return (n + alignment - 1) / alignment * alignment; }
  void key_type(const std::string& key, uint32_t type) {
    put_string(kv_, key);
    put(kv_, type);
  }
  void scalar(const std::string& key, uint32_t type, const void* v, size_t n) {
    key_type(key, type);
    kv_.append(static_cast<const char*>(v), n);
    ++n_kv_;
  }
  void array(const std::string& key, uint32_t elem, const void* v, size_t elem_size, size_t n) {
    key_type(key, 9);
    put(kv_, elem);
    put(kv_, uint64_t(n));
    kv_.append(static_cast<const char*>(v), elem_size * n);
    ++n_kv_;
  }
  std::vector<uint64_t> offsets() const {
    std::vector<uint64_t> out;
    uint64_t next = 0;
    for (const auto& t : tensors) {
      out.push_back(t.offset.value_or(next));
      next = align(out.back() + t.bytes.size());
    }
    return out;
  }
  std::string header_bytes() const {
    std::string out = "GGUF";
    put(out, version);
    put(out, tensor_count.value_or(tensors.size()));
    put(out, kv_count.value_or(n_kv_));
    out += kv_;
    const auto offs = offsets();
    for (size_t i = 0; i < tensors.size(); ++i) {
      const Tensor& t = tensors[i];
      put_string(out, t.name);
      put(out, t.n_dims.value_or(uint32_t(t.ne.size())));
      for (uint64_t d : t.ne) put(out, d);
      put(out, t.type);
      put(out, offs[i]);
    }
    return out;
  }

  std::string kv_;
  uint64_t n_kv_ = 0;
};

// Little-endian bytes of float32 values (an F32 tensor's data).
inline std::string f32_bytes(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4);
}

}  // namespace grpo::test
