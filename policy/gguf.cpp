// GGUF header parsing and validation, and the read-only mapping of a GGUF file. See gguf.h.
// Not here: dequantization (gguf_quants.h), tensor names and the Hugging Face layout (gguf_convert.h).
#include "policy/gguf.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <numeric>

#include "kernels/check.h"

namespace grpo::policy {
namespace {

constexpr uint64_t kMaxDims = 4;          // GGML_MAX_DIMS
constexpr uint64_t kMaxNameBytes = 64;    // the GGUF specification's limit on tensor names
constexpr uint64_t kMinKvBytes = 8 + 1 + 4 + 1;              // key length, a 1-byte key, type, a 1-byte value
constexpr uint64_t kMinTensorInfoBytes = 8 + 1 + 4 + 8 + 4 + 8;  // name length, name, n_dims, one dim, type, offset
constexpr const char* kTruncatedHint = "hint: the file is truncated (an interrupted download?) or corrupt";

// Every ggml type id in use (ggml.h; gguf-py's GGML_QUANT_SIZES): retired ids (4, 5, 31-33, 36-38) are unknown.
constexpr GgmlTypeInfo kGgmlTypes[] = {
    {0, "F32", 1, 4},          {1, "F16", 1, 2},          {2, "Q4_0", 32, 18},       {3, "Q4_1", 32, 20},
    {6, "Q5_0", 32, 22},       {7, "Q5_1", 32, 24},       {8, "Q8_0", 32, 34},       {9, "Q8_1", 32, 40},
    {10, "Q2_K", 256, 84},     {11, "Q3_K", 256, 110},    {12, "Q4_K", 256, 144},    {13, "Q5_K", 256, 176},
    {14, "Q6_K", 256, 210},    {15, "Q8_K", 256, 292},    {16, "IQ2_XXS", 256, 66},  {17, "IQ2_XS", 256, 74},
    {18, "IQ3_XXS", 256, 98},  {19, "IQ1_S", 256, 50},    {20, "IQ4_NL", 32, 18},    {21, "IQ3_S", 256, 110},
    {22, "IQ2_S", 256, 82},    {23, "IQ4_XS", 256, 136},  {24, "I8", 1, 1},          {25, "I16", 1, 2},
    {26, "I32", 1, 4},         {27, "I64", 1, 8},         {28, "F64", 1, 8},         {29, "IQ1_M", 256, 56},
    {30, "BF16", 1, 2},        {34, "TQ1_0", 256, 54},    {35, "TQ2_0", 256, 66},    {39, "MXFP4", 32, 17},
    {40, "NVFP4", 64, 36},     {41, "Q1_0", 128, 18},
};

size_t scalar_size(GgufType t) {
  switch (t) {
    case GgufType::U8: case GgufType::I8: case GgufType::Bool: return 1;
    case GgufType::U16: case GgufType::I16: return 2;
    case GgufType::U32: case GgufType::I32: case GgufType::F32: return 4;
    case GgufType::U64: case GgufType::I64: case GgufType::F64: return 8;
    default: return 0;
  }
}

bool known_type(uint32_t t) { return t <= static_cast<uint32_t>(GgufType::F64); }

template <typename T>
T load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));  // NOTE: GGUF values are unaligned little-endian; this is x86-64/aarch64 only
  return v;
}

// Bounds-checked reads over [data, data + size).
class Cursor {
 public:
  Cursor(const uint8_t* data, size_t size, const std::string& label) : data_(data), size_(size), label_(label) {}

  const uint8_t* take(uint64_t n, const std::string& what) {
    GRPO_CHECK(n <= size_ - pos_, label_, ": truncated while reading ", what, " (needs ", n, " bytes at offset ", pos_,
               ", the file has ", size_, "); ", kTruncatedHint);
    const uint8_t* p = data_ + pos_;
    pos_ += n;
    return p;
  }
  template <typename T>
  T pod(const std::string& what) {
    return load<T>(take(sizeof(T), what));
  }
  std::string_view string(const std::string& what) {
    const auto n = pod<uint64_t>(what);
    GRPO_CHECK(n <= size_ - pos_, label_, ": ", what, " claims a string of ", n, " bytes, past the end of the file (",
               size_ - pos_, " bytes left); ", kTruncatedHint);
    return {reinterpret_cast<const char*>(take(n, what)), size_t(n)};
  }
  uint64_t remaining() const { return size_ - pos_; }
  uint64_t pos() const { return pos_; }

 private:
  const uint8_t* data_;
  uint64_t size_, pos_ = 0;
  const std::string& label_;
};

std::string clip(std::string_view s) {
  std::string out(s.substr(0, 80));
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 0x20) c = '?';  // one line, whatever the file holds
  return s.size() > 80 ? out + "..." : out;
}

GgufValue read_value(Cursor& c, GgufType type, const std::string& what, const std::string& label) {
  GgufValue v;
  v.type = type;
  if (type == GgufType::String) {
    v.str = c.string(what);
  } else if (type == GgufType::Array) {
    const auto et = c.pod<uint32_t>(what);
    GRPO_CHECK(known_type(et), label, ": ", what, " is an array of unknown type ", et, "; ", kTruncatedHint);
    v.elem_type = static_cast<GgufType>(et);
    GRPO_CHECK(v.elem_type != GgufType::Array, label, ": ", what,
               " is an array of arrays, which GGUF readers do not support; hint: the file is corrupt");
    v.count = c.pod<uint64_t>(what);
    if (v.elem_type == GgufType::String) {
      GRPO_CHECK(v.count <= c.remaining() / 8, label, ": ", what, " claims ", v.count,
                 " strings, more than the file can hold; ", kTruncatedHint);
      v.strings.reserve(v.count);
      for (uint64_t i = 0; i < v.count; ++i) v.strings.push_back(c.string(what));
    } else {
      const size_t es = scalar_size(v.elem_type);
      GRPO_CHECK(v.count <= c.remaining() / es, label, ": ", what, " claims ", v.count, " elements of ", es,
                 " bytes, more than the file can hold; ", kTruncatedHint);
      v.data = c.take(v.count * es, what);
    }
  } else {
    GRPO_CHECK(known_type(static_cast<uint32_t>(type)), label, ": ", what, " has unknown value type ",
               static_cast<uint32_t>(type), "; hint: not a GGUF v2/v3 file, or a corrupt one");
    v.data = c.take(scalar_size(type), what);
  }
  return v;
}

}  // namespace

const char* gguf_type_name(GgufType type) {
  static const char* const names[] = {"u8",   "i8",  "u16",    "i16",   "u32", "i32", "f32",
                                      "bool", "string", "array", "u64", "i64", "f64"};
  return known_type(static_cast<uint32_t>(type)) ? names[static_cast<uint32_t>(type)] : "unknown";
}

const GgmlTypeInfo* ggml_type_info(uint32_t id) {
  for (const auto& t : kGgmlTypes)
    if (t.id == id) return &t;
  return nullptr;
}

const char* GgufTensorInfo::type_name() const {
  const GgmlTypeInfo* t = ggml_type_info(type);
  return t ? t->name : "unknown";
}

std::vector<int64_t> GgufTensorInfo::shape() const { return {ne.rbegin(), ne.rend()}; }

GgufHeader parse_gguf(const uint8_t* data, size_t size, const std::string& label) {
  Cursor c(data, size, label);
  GgufHeader h;
  h.label = label;
  const uint8_t* magic = c.take(4, "the magic bytes");
  GRPO_CHECK(std::memcmp(magic, "GGUF", 4) == 0, label, ": not a GGUF file (bad magic); hint: pass a .gguf file");
  h.version = c.pod<uint32_t>("the version");
  GRPO_CHECK(h.version != 0x02000000u && h.version != 0x03000000u, label,
             ": a big-endian GGUF file; hint: only little-endian files are read");
  GRPO_CHECK(h.version == 2 || h.version == 3, label, ": GGUF version ", h.version,
             " is not supported; hint: v2 and v3 are (re-convert the model with a current llama.cpp)");
  const auto n_tensors = c.pod<uint64_t>("the tensor count");
  const auto n_kv = c.pod<uint64_t>("the key/value count");
  GRPO_CHECK(n_kv <= c.remaining() / kMinKvBytes, label, ": the key/value count ", n_kv,
             " is more than the file can hold; ", kTruncatedHint);
  GRPO_CHECK(n_tensors <= c.remaining() / kMinTensorInfoBytes, label, ": the tensor count ", n_tensors,
             " is more than the file can hold; ", kTruncatedHint);

  h.kv.reserve(n_kv);
  for (uint64_t k = 0; k < n_kv; ++k) {
    const std::string_view key = c.string("key " + std::to_string(k));
    GRPO_CHECK(!key.empty(), label, ": key ", k, " is empty; hint: the file is corrupt");
    const std::string what = "the value of key '" + clip(key) + "'";
    GRPO_CHECK(h.kv_index_.emplace(std::string(key), h.kv.size()).second, label, ": duplicate key '", clip(key),
               "'; hint: the file is corrupt");
    const auto type = c.pod<uint32_t>(what);
    h.kv.emplace_back(std::string(key), read_value(c, static_cast<GgufType>(type), what, label));
  }
  if (const GgufValue* a = h.find("general.alignment")) {
    GRPO_CHECK(a->type == GgufType::U32, label, ": general.alignment has type ", gguf_type_name(a->type),
               ", expected u32; hint: the file is corrupt");
    h.alignment = load<uint32_t>(a->data);
    GRPO_CHECK(h.alignment > 0 && (h.alignment & (h.alignment - 1)) == 0, label, ": general.alignment ", h.alignment,
               " is not a power of two; hint: the file is corrupt");
  }

  h.tensors.reserve(std::min<uint64_t>(n_tensors, c.remaining() / kMinTensorInfoBytes));
  for (uint64_t i = 0; i < n_tensors; ++i) {
    GgufTensorInfo t;
    const std::string_view name = c.string("the name of tensor " + std::to_string(i));
    GRPO_CHECK(!name.empty() && name.size() <= kMaxNameBytes, label, ": tensor ", i, " has a name of ", name.size(),
               " bytes ('", clip(name), "'); GGUF names have 1 to ", kMaxNameBytes, "; hint: the file is corrupt");
    t.name = std::string(name);
    GRPO_CHECK(h.tensor_index_.emplace(t.name, h.tensors.size()).second, label, ": duplicate tensor name '",
               clip(name), "'; hint: the file is corrupt");
    const std::string what = "the info of tensor '" + clip(name) + "'";
    const auto n_dims = c.pod<uint32_t>(what);
    GRPO_CHECK(n_dims >= 1 && n_dims <= kMaxDims, label, ": tensor '", clip(name), "' has ", n_dims,
               " dims; GGUF allows 1 to ", kMaxDims, "; hint: the file is corrupt");
    t.numel = 1;
    bool overflow = false;
    for (uint32_t d = 0; d < n_dims; ++d) {
      const auto dim = c.pod<uint64_t>(what);
      GRPO_CHECK(dim <= uint64_t(std::numeric_limits<int64_t>::max()), label, ": tensor '", clip(name), "' dim ", d,
                 " is ", dim, " (negative as int64); hint: the file is corrupt");
      t.ne.push_back(int64_t(dim));
      overflow = overflow || __builtin_mul_overflow(t.numel, int64_t(dim), &t.numel);
    }
    GRPO_CHECK(!overflow, label, ": tensor '", clip(name), "' has dims whose product overflows int64; hint: the "
               "file is corrupt");
    t.type = c.pod<uint32_t>(what);
    const GgmlTypeInfo* ti = ggml_type_info(t.type);
    GRPO_CHECK(ti != nullptr, label, ": tensor '", clip(name), "' has unknown type ", t.type,
               "; hint: a newer ggml type, or a corrupt file");
    GRPO_CHECK(t.ne[0] % ti->block_size == 0, label, ": tensor '", clip(name), "' has ne[0] = ", t.ne[0],
               ", not a multiple of the ", ti->name, " block size ", ti->block_size, "; hint: the file is corrupt");
    // numel / block_size * type_size cannot overflow where numel * type_size bytes would fit in the file.
    GRPO_CHECK(uint64_t(t.numel) / ti->block_size <= size / ti->type_size, label, ": tensor '", clip(name), "' (",
               t.numel, " elements of ", ti->name, ") is larger than the file; hint: the file is truncated or corrupt");
    t.nbytes = uint64_t(t.numel) / ti->block_size * ti->type_size;
    t.offset = c.pod<uint64_t>(what);
    GRPO_CHECK(t.offset % h.alignment == 0, label, ": tensor '", clip(name), "' offset ", t.offset,
               " is not a multiple of the alignment ", h.alignment, "; hint: the file is corrupt");
    h.tensors.push_back(std::move(t));
  }

  // The data section starts at the next multiple of the alignment. NOTE: pos <= size < 2^63, so no overflow.
  h.data_start = (c.pos() + h.alignment - 1) / h.alignment * h.alignment;
  std::vector<const GgufTensorInfo*> by_offset;
  for (const auto& t : h.tensors) {
    GRPO_CHECK(h.data_start <= size && t.offset <= size - h.data_start && t.nbytes <= size - h.data_start - t.offset,
               label, ": tensor '", clip(t.name), "' (", t.type_name(), ", ", t.nbytes, " bytes at data offset ",
               t.offset, ") ends past the end of the file (data section at ", h.data_start, ", file of ", size,
               " bytes); ", kTruncatedHint);
    if (t.nbytes > 0) by_offset.push_back(&t);
  }
  std::stable_sort(by_offset.begin(), by_offset.end(),
            [](const GgufTensorInfo* a, const GgufTensorInfo* b) { return a->offset < b->offset; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const GgufTensorInfo &a = *by_offset[i - 1], &b = *by_offset[i];
    GRPO_CHECK(a.offset + a.nbytes <= b.offset, label, ": tensors '", clip(a.name), "' [", a.offset, ", ",
               a.offset + a.nbytes, ") and '", clip(b.name), "' [", b.offset, ", ", b.offset + b.nbytes,
               ") overlap; hint: the file is corrupt");
  }
  return h;
}

const GgufValue* GgufHeader::find(const std::string& key) const {
  auto it = kv_index_.find(key);
  return it == kv_index_.end() ? nullptr : &kv[it->second].second;
}

const GgufTensorInfo* GgufHeader::find_tensor(const std::string& name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors[it->second];
}

std::optional<std::string> GgufHeader::get_string(const std::string& key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) return std::nullopt;
  GRPO_CHECK(v->type == GgufType::String, label, ": key ", key, " has type ", gguf_type_name(v->type),
             ", expected a string");
  return std::string(v->str);
}

std::optional<int64_t> GgufHeader::get_int(const std::string& key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) return std::nullopt;
  switch (v->type) {
    case GgufType::U8: return load<uint8_t>(v->data);
    case GgufType::I8: return load<int8_t>(v->data);
    case GgufType::U16: return load<uint16_t>(v->data);
    case GgufType::I16: return load<int16_t>(v->data);
    case GgufType::U32: return load<uint32_t>(v->data);
    case GgufType::I32: return load<int32_t>(v->data);
    case GgufType::I64: return load<int64_t>(v->data);
    case GgufType::U64: {
      const auto u = load<uint64_t>(v->data);
      GRPO_CHECK(u <= uint64_t(std::numeric_limits<int64_t>::max()), label, ": key ", key, " = ", u,
                 " is out of range");
      return int64_t(u);
    }
    default: GRPO_FAIL(label, ": key ", key, " has type ", gguf_type_name(v->type), ", expected an integer");
  }
}

std::optional<double> GgufHeader::get_float(const std::string& key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) return std::nullopt;
  if (v->type == GgufType::F32) return load<float>(v->data);
  if (v->type == GgufType::F64) return load<double>(v->data);
  GRPO_FAIL(label, ": key ", key, " has type ", gguf_type_name(v->type), ", expected f32 or f64");
}

std::optional<bool> GgufHeader::get_bool(const std::string& key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) return std::nullopt;
  GRPO_CHECK(v->type == GgufType::Bool, label, ": key ", key, " has type ", gguf_type_name(v->type),
             ", expected bool");
  return load<uint8_t>(v->data) != 0;
}

namespace {
const GgufValue* find_array(const GgufHeader& h, const std::string& key, const GgufValue* v, const char* want) {
  if (v == nullptr) return nullptr;
  GRPO_CHECK(v->type == GgufType::Array, h.label, ": key ", key, " has type ", gguf_type_name(v->type),
             ", expected an array of ", want);
  return v;
}
}  // namespace

std::vector<std::string_view> GgufHeader::get_string_array(const std::string& key) const {
  const GgufValue* v = find_array(*this, key, find(key), "strings");
  if (v == nullptr) return {};
  GRPO_CHECK(v->elem_type == GgufType::String, label, ": key ", key, " is an array of ", gguf_type_name(v->elem_type),
             ", expected strings");
  return v->strings;
}

std::vector<int32_t> GgufHeader::get_int32_array(const std::string& key) const {
  const GgufValue* v = find_array(*this, key, find(key), "i32");
  if (v == nullptr) return {};
  GRPO_CHECK(v->elem_type == GgufType::I32 || v->elem_type == GgufType::U32, label, ": key ", key,
             " is an array of ", gguf_type_name(v->elem_type), ", expected i32");
  std::vector<int32_t> out(v->count);
  std::memcpy(out.data(), v->data, v->count * 4);
  if (v->elem_type == GgufType::U32)
    for (size_t i = 0; i < out.size(); ++i)
      GRPO_CHECK(out[i] >= 0, label, ": key ", key, "[", i, "] = ", uint32_t(out[i]), " is out of range");
  return out;
}

std::vector<float> GgufHeader::get_float_array(const std::string& key) const {
  const GgufValue* v = find_array(*this, key, find(key), "f32");
  if (v == nullptr) return {};
  GRPO_CHECK(v->elem_type == GgufType::F32, label, ": key ", key, " is an array of ", gguf_type_name(v->elem_type),
             ", expected f32");
  std::vector<float> out(v->count);
  std::memcpy(out.data(), v->data, v->count * 4);
  return out;
}

std::shared_ptr<GgufFile> GgufFile::open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  GRPO_CHECK(fd >= 0, path, ": cannot open (", std::strerror(errno), "); hint: check the path and permissions");
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    GRPO_FAIL(path, ": not a regular file; hint: pass the path of a .gguf file");
  }
  std::shared_ptr<GgufFile> file(new GgufFile());
  if (st.st_size > 0) {
    // NOTE: a private read-only mapping; the pages of tensor data are only read when dequantized.
    void* p = ::mmap(nullptr, size_t(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
    const int err = errno;
    ::close(fd);
    GRPO_CHECK(p != MAP_FAILED, path, ": mmap of ", st.st_size, " bytes failed (", std::strerror(err),
               "); hint: check the address-space limit (ulimit -v)");
    file->base_ = static_cast<const uint8_t*>(p);
    file->size_ = size_t(st.st_size);
  } else {
    ::close(fd);  // zero bytes: parse_gguf reports the short file
  }
  file->header_ = parse_gguf(file->base_, file->size_, path);
  return file;
}

GgufFile::~GgufFile() {
  if (base_) ::munmap(const_cast<uint8_t*>(base_), size_);
}

const uint8_t* GgufFile::data(const GgufTensorInfo& t) const {
  const GgufTensorInfo* mine = header_.find_tensor(t.name);
  GRPO_CHECK(mine != nullptr && mine->offset == t.offset && mine->nbytes == t.nbytes, path(), ": tensor '", t.name,
             "' is not this file's; hint: pass a GgufTensorInfo obtained from this file");
  return base_ + header_.data_start + t.offset;
}

}  // namespace grpo::policy
