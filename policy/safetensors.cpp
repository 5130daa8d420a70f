// Safetensors reading (header validation as strict as the reference Rust reader, mmap) and atomic writing,
// single files and sharded checkpoint directories.
// Not here: dtype conversion, at::Tensor wrapping, or the HF tensor-name table (policy/load, policy/arch).
#include "policy/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <unordered_set>

#include "kernels/check.h"

namespace grpo::policy {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr uint64_t kMaxHeaderBytes = 100'000'000;  // the reference reader's limit
constexpr const char* kSingleFile = "model.safetensors";
constexpr const char* kIndexFile = "model.safetensors.index.json";

struct DTypeEntry {
  DType dtype;
  const char* name;
  size_t size;
};
constexpr DTypeEntry kDTypes[] = {
    {DType::BOOL, "BOOL", 1},       {DType::U8, "U8", 1},   {DType::I8, "I8", 1},   {DType::F8_E5M2, "F8_E5M2", 1},
    {DType::F8_E4M3, "F8_E4M3", 1}, {DType::I16, "I16", 2}, {DType::U16, "U16", 2}, {DType::F16, "F16", 2},
    {DType::BF16, "BF16", 2},       {DType::I32, "I32", 4}, {DType::U32, "U32", 4}, {DType::F32, "F32", 4},
    {DType::F64, "F64", 8},         {DType::I64, "I64", 8}, {DType::U64, "U64", 8},
};

const DTypeEntry* lookup_dtype(const std::string& s) {
  for (const auto& e : kDTypes)
    if (s == e.name) return &e;
  return nullptr;
}

std::string known_dtypes() {
  std::string out;
  for (const auto& e : kDTypes) out += (out.empty() ? "" : " ") + std::string(e.name);
  return out;
}

// nlohmann's messages quote the offending token, which can be the whole (huge) header: keep them short.
std::string clip(const std::string& s, size_t max_len = 200) {
  return s.size() <= max_len ? s : s.substr(0, max_len) + "...";
}

// A SAX pass before the DOM parse: nlohmann's DOM silently keeps the last of duplicate keys and loses the key
// order, and deep nesting would make the DOM's size unbounded by anything useful. This pass rejects duplicates at
// every level, bounds the depth, and records the top-level key order.
class KeyChecker : public nlohmann::json_sax<json> {
 public:
  // `top_noun` names what the top-level keys are ("tensor name" in a safetensors header) in error messages.
  KeyChecker(size_t max_depth, const char* top_noun) : max_depth_(max_depth), top_noun_(top_noun) {}
  std::vector<std::string> top_keys;  // top-level object keys in document order
  std::string error;                  // set when the pass stops

  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return push(); }
  bool end_object() override { return pop(); }
  bool start_array(std::size_t) override { return push(); }
  bool end_array() override { return pop(); }
  bool key(string_t& k) override {
    if (!frames_.back().keys.insert(k).second) {
      error = frames_.size() == 1 ? str("duplicate ", top_noun_, " \"", clip(k), "\"")
                                  : str("duplicate key \"", clip(k), "\" inside \"",
                                        clip(top_keys.empty() ? std::string() : top_keys.back()), "\"");
      return false;
    }
    if (frames_.size() == 1) top_keys.push_back(k);
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& ex) override {
    error = str("invalid JSON (", clip(ex.what()), ")");
    return false;
  }

 private:
  struct Frame {
    std::unordered_set<std::string> keys;
  };
  bool push() {
    if (frames_.size() >= max_depth_) {
      error = str("JSON nested deeper than ", max_depth_, " levels");
      return false;
    }
    frames_.emplace_back();
    return true;
  }
  bool pop() {
    frames_.pop_back();
    return true;
  }
  size_t max_depth_;
  const char* top_noun_;
  std::vector<Frame> frames_;  // open objects and arrays (arrays keep an empty key set)
};

// Parses JSON text after the SAX checks; `top_keys` receives the top-level key order. `what` ("header", "index")
// and `hint` go into error messages.
json parse_json_checked(const char* begin, const char* end, size_t max_depth, const char* top_noun,
                        const std::string& label, const char* what, const char* hint,
                        std::vector<std::string>* top_keys) {
  // NOTE: nlohmann's lexer takes a NUL byte for the end of input, so "{}\0junk" would pass; JSON forbids raw NULs.
  const void* nul = std::memchr(begin, 0, size_t(end - begin));
  GRPO_CHECK(nul == nullptr, label, ": ", what, " invalid JSON (a NUL byte at offset ",
             static_cast<const char*>(nul) - begin, " of the JSON text); HINT: ", hint);
  KeyChecker checker(max_depth, top_noun);
  const bool ok = json::sax_parse(begin, end, &checker, json::input_format_t::json, /*strict=*/true);
  if (!ok || !checker.error.empty())
    GRPO_FAIL(label, ": ", what, " ", checker.error.empty() ? std::string("invalid JSON") : checker.error,
              "; HINT: ", hint);
  try {
    json j = json::parse(begin, end);
    if (top_keys) *top_keys = std::move(checker.top_keys);
    return j;
  } catch (const json::exception& e) {
    GRPO_FAIL(label, ": ", what, " invalid JSON (", clip(e.what()), "); HINT: ", hint);
  }
}

constexpr const char* kHeaderHint = "the file is corrupt or was not written by a safetensors writer; re-export it";

// Parses one tensor entry of the header (everything except the tiling, which needs all entries).
#define ENTRY_CHECK(cond, ...) \
  GRPO_CHECK(cond, label, ": tensor \"", clip(name), "\": ", __VA_ARGS__, "; HINT: ", kHeaderHint)
TensorInfo parse_tensor_entry(const std::string& name, const json& entry, uint64_t data_size,
                              const std::string& label) {
  ENTRY_CHECK(entry.is_object(), "entry is not a JSON object");
  TensorInfo t;
  t.name = name;

  auto dtype_it = entry.find("dtype");
  ENTRY_CHECK(dtype_it != entry.end() && dtype_it->is_string(), "missing or non-string \"dtype\"");
  const auto* dt = lookup_dtype(dtype_it->get<std::string>());
  ENTRY_CHECK(dt != nullptr, "unknown dtype \"", clip(dtype_it->get<std::string>()), "\" (known: ", known_dtypes(),
              ")");
  t.dtype = dt->dtype;

  auto shape_it = entry.find("shape");
  ENTRY_CHECK(shape_it != entry.end() && shape_it->is_array(), "missing or non-array \"shape\"");
  int64_t numel = 1;
  for (const auto& d : *shape_it) {
    ENTRY_CHECK(d.is_number_integer(), "\"shape\" holds a non-integer");
    ENTRY_CHECK(d.is_number_unsigned() ? d.get<uint64_t>() <= uint64_t(std::numeric_limits<int64_t>::max())
                                       : d.get<int64_t>() >= 0,
                "\"shape\" holds a negative or too large dim");
    const int64_t dim = d.get<int64_t>();
    t.shape.push_back(dim);
    ENTRY_CHECK(!__builtin_mul_overflow(numel, dim, &numel), "shape product overflows int64");
  }

  auto off_it = entry.find("data_offsets");
  ENTRY_CHECK(off_it != entry.end() && off_it->is_array() && off_it->size() == 2 && (*off_it)[0].is_number_unsigned() &&
                  (*off_it)[1].is_number_unsigned(),
              "\"data_offsets\" must be two non-negative integers [begin, end]");
  t.begin = (*off_it)[0].get<uint64_t>();
  t.end = (*off_it)[1].get<uint64_t>();
  ENTRY_CHECK(t.end >= t.begin, "data_offsets end ", t.end, " < begin ", t.begin);
  ENTRY_CHECK(t.end <= data_size, "data_offsets end ", t.end, " past the data buffer of ", data_size, " bytes");
  uint64_t want = 0;
  ENTRY_CHECK(!__builtin_mul_overflow(uint64_t(numel), uint64_t(dt->size), &want), "byte size overflows uint64");
  ENTRY_CHECK(t.end - t.begin == want, "data_offsets span ", t.end - t.begin, " bytes but ", dt->name, " shape of ",
              numel, " elements needs ", want);
  return t;
}
#undef ENTRY_CHECK

// The reference reader requires the tensors, sorted by offset, to tile the data buffer exactly.
void check_tiling(const std::vector<TensorInfo>& tensors, uint64_t data_size, const std::string& label) {
  std::vector<const TensorInfo*> sorted;
  for (const auto& t : tensors) sorted.push_back(&t);
  std::sort(sorted.begin(), sorted.end(), [](const TensorInfo* a, const TensorInfo* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  uint64_t expected = 0;
  const TensorInfo* prev = nullptr;
  for (const auto* t : sorted) {
    if (t->begin < expected)
      GRPO_FAIL(label, ": tensor \"", clip(t->name), "\" [", t->begin, ", ", t->end, ") overlaps tensor \"",
                clip(prev->name), "\" [", prev->begin, ", ", prev->end, "); HINT: ", kHeaderHint);
    if (t->begin > expected)
      GRPO_FAIL(label, ": tensor \"", clip(t->name), "\" begins at ", t->begin, ", leaving a hole of ",
                t->begin - expected, " bytes after offset ", expected, "; HINT: ", kHeaderHint);
    expected = t->end;
    prev = t;
  }
  GRPO_CHECK(expected == data_size, label, ": the data buffer has ", data_size - expected,
             " bytes after the last tensor (tensors end at ", expected, ", buffer is ", data_size,
             " bytes); HINT: the file is corrupt or has trailing garbage; re-export it");
}

// ---- writing ----

// Writes `path` through path + ".tmp.<pid>", fsync, rename; the temp file is removed if anything fails.
class AtomicFile {
 public:
  explicit AtomicFile(const std::string& path) : path_(path), tmp_(path + ".tmp." + std::to_string(::getpid())) {
    fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    GRPO_CHECK(fd_ >= 0, path_, ": cannot create temp file ", tmp_, " (", std::strerror(errno),
               "); HINT: check that the directory exists and is writable");
  }
  ~AtomicFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(tmp_.c_str());
  }
  void write(const void* data, uint64_t n) {
    const auto* p = static_cast<const uint8_t*>(data);
    while (n > 0) {
      const size_t chunk = size_t(std::min<uint64_t>(n, 1ull << 30));
      const ssize_t w = ::write(fd_, p, chunk);
      if (w < 0 && errno == EINTR) continue;
      GRPO_CHECK(w > 0, path_, ": write failed (", std::strerror(errno), "); HINT: check free disk space");
      p += w;
      n -= uint64_t(w);
    }
  }
  void commit() {
    GRPO_CHECK(::fsync(fd_) == 0, path_, ": fsync failed (", std::strerror(errno), "); HINT: check the disk");
    const int rc = ::close(fd_);
    fd_ = -1;
    GRPO_CHECK(rc == 0, path_, ": close failed (", std::strerror(errno), "); HINT: check the disk");
    GRPO_CHECK(::rename(tmp_.c_str(), path_.c_str()) == 0, path_, ": rename from ", tmp_, " failed (",
               std::strerror(errno), "); HINT: check permissions on the directory");
    committed_ = true;
    // NOTE: fsync the directory so the rename itself survives a crash; best effort (some filesystems refuse).
    const std::string parent = fs::path(path_).parent_path().empty() ? "." : fs::path(path_).parent_path().string();
    const int dfd = ::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      ::fsync(dfd);
      ::close(dfd);
    }
  }

 private:
  std::string path_, tmp_;
  int fd_ = -1;
  bool committed_ = false;
};

// Checks names (unique, not "__metadata__"), dims and nbytes == numel * dtype_size. `label` names the target.
void validate_views(const std::vector<TensorView>& tensors, const std::string& label) {
  std::unordered_set<std::string> seen;
  for (const auto& t : tensors) {
    GRPO_CHECK(t.name != "__metadata__", label,
               ": tensor name \"__metadata__\" is reserved for the header's "
               "metadata; HINT: rename the tensor");
    GRPO_CHECK(seen.insert(t.name).second, label, ": tensor \"", t.name,
               "\" is given twice; HINT: tensor names "
               "must be unique (write tied weights once)");
    int64_t numel = 1;
    for (int64_t d : t.shape) {
      GRPO_CHECK(d >= 0, label, ": tensor \"", t.name, "\" has negative dim ", d, "; HINT: pass the real shape");
      GRPO_CHECK(!__builtin_mul_overflow(numel, d, &numel), label, ": tensor \"", t.name,
                 "\" shape product overflows int64; HINT: pass the real shape");
    }
    uint64_t want = 0;
    GRPO_CHECK(!__builtin_mul_overflow(uint64_t(numel), uint64_t(dtype_size(t.dtype)), &want), label, ": tensor \"",
               t.name, "\" byte size overflows; HINT: pass the real shape");
    GRPO_CHECK(t.nbytes == want, label, ": tensor \"", t.name, "\" has nbytes ", t.nbytes, " but ", dtype_name(t.dtype),
               " shape of ", numel, " elements needs ", want,
               "; HINT: the view must be contiguous and match its dtype and shape");
    GRPO_CHECK(t.nbytes == 0 || t.data != nullptr, label, ": tensor \"", t.name,
               "\" has a null data pointer; HINT: pass the tensor's bytes");
  }
}

std::string json_quote(const std::string& s, const std::string& label) {
  try {
    return json(s).dump();
  } catch (const json::exception& e) {
    GRPO_FAIL(label, ": string \"", clip(s), "\" cannot be written to the header (", e.what(),
              "); HINT: tensor names and metadata must be valid UTF-8");
  }
}

bool is_shard_name(const std::string& f) {
  // model-00001-of-00003.safetensors
  if (f.size() != 32 || f.rfind("model-", 0) != 0 || f.compare(11, 4, "-of-") != 0 ||
      f.compare(20, 12, ".safetensors") != 0)
    return false;
  for (size_t i : {6, 7, 8, 9, 10, 15, 16, 17, 18, 19})
    if (f[i] < '0' || f[i] > '9') return false;
  return true;
}

// Removes the files of the other layout (and shards of an earlier write) that are not in `keep`.
void remove_stale(const std::string& dir, const std::set<std::string>& keep) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string f = e.path().filename().string();
    if ((f == kSingleFile || f == kIndexFile || is_shard_name(f)) && !keep.count(f)) fs::remove(e.path(), ec);
  }
}

}  // namespace

const char* dtype_name(DType dtype) {
  for (const auto& e : kDTypes)
    if (e.dtype == dtype) return e.name;
  GRPO_FAIL("dtype_name: invalid DType value ", int(dtype), "; HINT: this is a bug in the caller");
}

size_t dtype_size(DType dtype) {
  for (const auto& e : kDTypes)
    if (e.dtype == dtype) return e.size;
  GRPO_FAIL("dtype_size: invalid DType value ", int(dtype), "; HINT: this is a bug in the caller");
}

DType parse_dtype(const std::string& s) {
  const auto* e = lookup_dtype(s);
  GRPO_CHECK(e != nullptr, "unknown safetensors dtype \"", clip(s), "\"; HINT: supported dtypes are ", known_dtypes());
  return e->dtype;
}

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

SafetensorsHeader parse_header(const uint8_t* data, size_t size, const std::string& label) {
  GRPO_CHECK(size >= 8, label, ": file is ", size,
             " bytes, shorter than the 8-byte header length; HINT: the file "
             "is truncated or not a safetensors file");
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= uint64_t(data[i]) << (8 * i);
  GRPO_CHECK(n <= kMaxHeaderBytes, label, ": header length ", n, " exceeds the limit of ", kMaxHeaderBytes,
             " bytes; HINT: the file is corrupt or not a safetensors file");
  GRPO_CHECK(n <= size - 8, label, ": header length ", n, " runs past the end of the ", size,
             "-byte file; HINT: the file is truncated (an interrupted download or copy?)");
  GRPO_CHECK(n > 0 && data[8] == '{', label,
             ": header does not start with '{'; HINT: the file is corrupt or not "
             "a safetensors file");

  SafetensorsHeader h;
  h.data_start = 8 + n;
  h.data_size = uint64_t(size) - h.data_start;
  const char* begin = reinterpret_cast<const char*>(data + 8);
  std::vector<std::string> keys;
  // Depth 3: the root object, a tensor entry, its shape or data_offsets array.
  const json root = parse_json_checked(begin, begin + n, 3, "tensor name", label, "header", kHeaderHint, &keys);

  for (const auto& key : keys) {
    const json& entry = root.at(key);
    if (key == "__metadata__") {
      GRPO_CHECK(entry.is_object(), label, ": \"__metadata__\" is not a JSON object; HINT: ", kHeaderHint);
      for (const auto& [k, v] : entry.items()) {
        GRPO_CHECK(v.is_string(), label, ": \"__metadata__\" value of \"", clip(k),
                   "\" is not a string; HINT: safetensors metadata maps strings to strings; ", kHeaderHint);
        h.metadata[k] = v.get<std::string>();
      }
      continue;
    }
    h.tensors.push_back(parse_tensor_entry(key, entry, h.data_size, label));
  }
  check_tiling(h.tensors, h.data_size, label);
  return h;
}

// ---- SafetensorsFile ----

std::shared_ptr<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  GRPO_CHECK(fd >= 0, path, ": cannot open (", std::strerror(errno), "); HINT: check the path and permissions");
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    GRPO_FAIL(path, ": not a regular file; HINT: pass the path of a .safetensors file");
  }
  std::shared_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->path_ = path;
  if (st.st_size > 0) {
    // NOTE: MAP_PRIVATE + PROT_READ: we never write, and a private mapping cannot change the file. The fd stays
    // open for read_into. Truncating the file while mapped would still SIGBUS.
    void* p = ::mmap(nullptr, size_t(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
    const int err = errno;
    file->fd_ = fd;  // closed by the destructor
    GRPO_CHECK(p != MAP_FAILED, path, ": mmap of ", st.st_size, " bytes failed (", std::strerror(err),
               "); HINT: check the address-space limit (ulimit -v)");
    file->base_ = static_cast<const uint8_t*>(p);
    file->size_ = size_t(st.st_size);
  } else {
    ::close(fd);  // zero bytes: nothing to map; parse_header reports the short file
  }
  file->header_ = parse_header(file->base_, file->size_, path);
  for (size_t i = 0; i < file->header_.tensors.size(); ++i) file->index_[file->header_.tensors[i].name] = i;
  return file;
}

SafetensorsFile::~SafetensorsFile() {
  if (base_) ::munmap(const_cast<uint8_t*>(base_), size_);
  if (fd_ >= 0) ::close(fd_);
}

const TensorInfo* SafetensorsFile::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &header_.tensors[it->second];
}

const TensorInfo& SafetensorsFile::at(const std::string& name) const {
  const TensorInfo* t = find(name);
  GRPO_CHECK(t != nullptr, path_, ": no tensor \"", name, "\" among its ", header_.tensors.size(),
             " tensors; HINT: check the tensor name against the architecture's name table");
  return *t;
}

const uint8_t* SafetensorsFile::data(const TensorInfo& t) const {
  GRPO_CHECK(t.begin <= t.end && t.end <= header_.data_size, path_, ": tensor \"", t.name, "\" [", t.begin, ", ", t.end,
             ") is outside this file's data buffer; HINT: pass a TensorInfo obtained from this file");
  return base_ + header_.data_start + t.begin;
}

void SafetensorsFile::release(const TensorInfo& t) const {
  if (base_ == nullptr) return;
  const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t begin = reinterpret_cast<uintptr_t>(data(t));
  const uintptr_t first = (begin + page - 1) / page * page, last = (begin + t.nbytes()) / page * page;
  if (last > first) ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
}

void SafetensorsFile::read_into(const TensorInfo& t, void* dst) const {
  const uint8_t* src = data(t);  // validates the range
  if (fd_ < 0) {
    std::memcpy(dst, src, t.nbytes());
    return;
  }
  uint64_t done = 0, offset = header_.data_start + t.begin;
  while (done < t.nbytes()) {
    const ssize_t n = ::pread(fd_, static_cast<uint8_t*>(dst) + done, size_t(t.nbytes() - done), off_t(offset + done));
    if (n < 0 && errno == EINTR) continue;
    GRPO_CHECK(n > 0, path_, ": reading tensor \"", t.name, "\" failed at byte ", done, " (",
               n < 0 ? std::strerror(errno) : "unexpected end of file", "); HINT: was the file truncated while open?");
    done += uint64_t(n);
  }
}

// ---- SafetensorsCheckpoint ----

SafetensorsCheckpoint SafetensorsCheckpoint::open_dir(const std::string& dir) {
  SafetensorsCheckpoint ckpt;
  ckpt.dir_ = dir;
  const fs::path single = fs::path(dir) / kSingleFile;
  const fs::path index = fs::path(dir) / kIndexFile;
  std::error_code ec;
  if (fs::is_regular_file(single, ec)) {
    auto file = SafetensorsFile::open(single.string());
    for (const auto& t : file->tensors()) ckpt.by_name_[t.name] = {file.get(), &t};
    ckpt.files_.push_back(std::move(file));
    return ckpt;
  }
  GRPO_CHECK(fs::is_regular_file(index, ec), dir, ": neither ", kSingleFile, " nor ", kIndexFile,
             " found; HINT: pass a Hugging Face checkpoint directory with safetensors weights (.bin is not read)");

  const std::string label = index.string();
  std::ifstream in(index, std::ios::binary);
  GRPO_CHECK(in.good(), label, ": cannot read; HINT: check permissions");
  std::ostringstream buf;
  buf << in.rdbuf();
  const std::string text = buf.str();
  const char* hint = "the index is corrupt; re-export the checkpoint";
  const json root =
      parse_json_checked(text.data(), text.data() + text.size(), 64, "key", label, "index", hint, nullptr);
  GRPO_CHECK(root.is_object() && root.contains("weight_map") && root["weight_map"].is_object(), label,
             ": no \"weight_map\" object; HINT: ", hint);

  std::map<std::string, std::shared_ptr<SafetensorsFile>> shards;
  for (const auto& [name, value] : root["weight_map"].items()) {
    GRPO_CHECK(value.is_string(), label, ": weight_map entry of tensor \"", name, "\" is not a string; HINT: ", hint);
    const std::string shard = value.get<std::string>();
    GRPO_CHECK(!shard.empty() && shard.find('/') == std::string::npos && shard.find('\\') == std::string::npos &&
                   shard.find("..") == std::string::npos,
               label, ": tensor \"", name, "\" maps to \"", clip(shard), "\", which is not a file name inside ", dir,
               "; HINT: weight_map values must be plain shard file names");
    auto it = shards.find(shard);
    if (it == shards.end()) {
      const fs::path p = fs::path(dir) / shard;
      GRPO_CHECK(fs::is_regular_file(p, ec), label, ": tensor \"", name, "\" maps to shard ", shard,
                 ", which does not exist in ", dir, "; HINT: the checkpoint is incomplete (download all shards)");
      it = shards.emplace(shard, SafetensorsFile::open(p.string())).first;
    }
    const TensorInfo* t = it->second->find(name);
    GRPO_CHECK(t != nullptr, label, ": tensor \"", name, "\" is not in its shard ", shard, " (dir ", dir,
               "); HINT: the index and the shards disagree; re-export the checkpoint");
    ckpt.by_name_[name] = {it->second.get(), t};
  }
  // NOTE: tensors present in a shard but absent from weight_map are ignored, as transformers does.
  for (auto& [shard, file] : shards) ckpt.files_.push_back(std::move(file));
  return ckpt;
}

std::vector<std::string> SafetensorsCheckpoint::names() const {
  std::vector<std::string> out;
  out.reserve(by_name_.size());
  for (const auto& [name, loc] : by_name_) out.push_back(name);
  return out;
}

bool SafetensorsCheckpoint::contains(const std::string& name) const { return by_name_.count(name) > 0; }

std::pair<const SafetensorsFile*, const TensorInfo*> SafetensorsCheckpoint::locate(const std::string& name) const {
  auto it = by_name_.find(name);
  GRPO_CHECK(it != by_name_.end(), dir_, ": checkpoint has no tensor \"", name, "\" (", by_name_.size(),
             " tensors); HINT: check the tensor name against the architecture's name table");
  return it->second;
}

// ---- writing ----

void write_safetensors(const std::string& path, const std::vector<TensorView>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  validate_views(tensors, path);
  // NOTE: the reference writer's order: larger elements first, so with an 8-aligned data start every tensor is
  // aligned to its element size without padding between tensors (padding would break the tiling rule).
  std::vector<const TensorView*> order;
  for (const auto& t : tensors) order.push_back(&t);
  std::sort(order.begin(), order.end(), [](const TensorView* a, const TensorView* b) {
    const size_t sa = dtype_size(a->dtype), sb = dtype_size(b->dtype);
    return sa != sb ? sa > sb : a->name < b->name;
  });

  std::string header = "{";
  if (!metadata.empty()) {
    header += "\"__metadata__\":{";
    bool first = true;
    for (const auto& [k, v] : metadata) {
      header += (first ? "" : ",") + json_quote(k, path) + ":" + json_quote(v, path);
      first = false;
    }
    header += "}";
  }
  uint64_t offset = 0;
  for (const auto* t : order) {
    if (header.size() > 1) header += ",";
    header += json_quote(t->name, path) + ":{\"dtype\":\"" + dtype_name(t->dtype) + "\",\"shape\":[";
    for (size_t i = 0; i < t->shape.size(); ++i) header += (i ? "," : "") + std::to_string(t->shape[i]);
    header += "],\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(offset + t->nbytes) + "]}";
    offset += t->nbytes;
  }
  header += "}";
  header.append((8 - header.size() % 8) % 8, ' ');
  GRPO_CHECK(header.size() <= kMaxHeaderBytes, path, ": header would be ", header.size(),
             " bytes, over the readers' limit of ", kMaxHeaderBytes, "; HINT: split the tensors over several files");

  uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = uint8_t(uint64_t(header.size()) >> (8 * i));
  AtomicFile out(path);
  out.write(len, 8);
  out.write(header.data(), header.size());
  for (const auto* t : order) out.write(t->data, t->nbytes);
  out.commit();
}

void write_safetensors_dir(const std::string& dir, const std::vector<TensorView>& tensors, uint64_t max_shard_bytes) {
  std::error_code ec;
  GRPO_CHECK(fs::is_directory(dir, ec), dir, ": not an existing directory; HINT: create it before writing weights");
  validate_views(tensors, dir);  // names unique across all shards, not just within one
  uint64_t total = 0;
  for (const auto& t : tensors)
    GRPO_CHECK(!__builtin_add_overflow(total, t.nbytes, &total), dir, ": total size overflows; HINT: this is a bug");

  if (total <= max_shard_bytes) {
    write_safetensors((fs::path(dir) / kSingleFile).string(), tensors);
    remove_stale(dir, {kSingleFile});
    return;
  }

  // Greedy in the caller's order, as transformers' save_pretrained does; a tensor larger than the limit gets a
  // shard of its own.
  std::vector<std::vector<TensorView>> groups(1);
  uint64_t current = 0;
  for (const auto& t : tensors) {
    if (!groups.back().empty() && current + t.nbytes > max_shard_bytes) {
      groups.emplace_back();
      current = 0;
    }
    groups.back().push_back(t);
    current += t.nbytes;
  }
  GRPO_CHECK(groups.size() <= 99999, dir, ": ", groups.size(),
             " shards exceed the 5-digit shard names; HINT: "
             "raise max_shard_bytes");

  json index;
  index["metadata"]["total_size"] = total;
  index["weight_map"] = json::object();
  std::set<std::string> keep = {kIndexFile};
  for (size_t i = 0; i < groups.size(); ++i) {
    char name[64];
    std::snprintf(name, sizeof(name), "model-%05zu-of-%05zu.safetensors", i + 1, groups.size());
    write_safetensors((fs::path(dir) / name).string(), groups[i]);
    keep.insert(name);
    for (const auto& t : groups[i]) index["weight_map"][t.name] = name;
  }
  const std::string text = index.dump(2) + "\n";  // names were validated as UTF-8 by write_safetensors
  AtomicFile out((fs::path(dir) / kIndexFile).string());
  out.write(text.data(), text.size());
  out.commit();
  remove_stale(dir, keep);
}

}  // namespace grpo::policy
