// Tests for policy/safetensors: write -> read round trips (single file, metadata, sharded directories) and each
// header check the reader makes, on hand-crafted files.
// Not here: the random mutation loop (test_safetensors_fuzz.cpp).
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "kernels/check.h"
#include "policy/safetensors.h"

namespace fs = std::filesystem;
using namespace grpo::policy;
using Catch::Matchers::Contains;

namespace {

// A fresh directory under the system temp dir, removed with its contents at scope exit.
struct TempDir {
  fs::path path;
  TempDir() {
    static std::atomic<int> counter{0};
    path = fs::temp_directory_path() / ("grpo_test_st_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), std::streamsize(bytes.size()));
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// [u64 little-endian header length][header][data], exactly as given (no padding).
std::string raw_file(const std::string& header, const std::string& data = "") {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = char(uint8_t(uint64_t(header.size()) >> (8 * i)));
  return out + header + data;
}

std::string raw_file_with_length(uint64_t n, const std::string& rest) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = char(uint8_t(n >> (8 * i)));
  return out + rest;
}

// Opens `bytes` as <dir>/bad.safetensors; returns the grpo::Error message, failing the test if it opens.
std::string open_error(const TempDir& dir, const std::string& bytes) {
  const std::string path = dir.file("bad.safetensors");
  write_bytes(path, bytes);
  try {
    SafetensorsFile::open(path);
  } catch (const grpo::Error& e) {
    return e.what();
  }
  FAIL("a file that should be rejected opened: " << bytes.substr(0, 300));
  return "";
}

std::vector<uint8_t> iota_bytes(size_t n, uint8_t start) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = uint8_t(start + 7 * i);
  return v;
}

std::string tensor_bytes(const SafetensorsFile& f, const TensorInfo& t) {
  return std::string(reinterpret_cast<const char*>(f.data(t)), t.nbytes());
}

// Checks that an error message names bad.safetensors (and tensor "w"), ends with a hint, and says each of `...`.
#define EXPECT_FILE_ERROR(msg_expr, ...)                                                                \
  do {                                                                                                  \
    const std::string msg_ = (msg_expr);                                                                \
    for (const char* part : {"bad.safetensors", "HINT", __VA_ARGS__}) CHECK_THAT(msg_, Contains(part)); \
  } while (0)
#define EXPECT_TENSOR_ERROR(msg_expr, ...) EXPECT_FILE_ERROR(msg_expr, "tensor \"w\"", __VA_ARGS__)

}  // namespace

TEST_CASE("dtype names, sizes and parsing agree", "[cpu]") {
  for (DType d : {DType::BOOL, DType::U8, DType::I8, DType::F8_E5M2, DType::F8_E4M3, DType::I16, DType::U16, DType::F16,
                  DType::BF16, DType::I32, DType::U32, DType::F32, DType::F64, DType::I64, DType::U64})
    CHECK(parse_dtype(dtype_name(d)) == d);
  CHECK(dtype_size(DType::BF16) == 2);
  CHECK(dtype_size(DType::F8_E4M3) == 1);
  CHECK(dtype_size(DType::I64) == 8);
  CHECK(std::string(dtype_name(DType::F8_E4M3)) == "F8_E4M3");
  CHECK_THROWS_WITH(parse_dtype("F4"), Contains("\"F4\"") && Contains("HINT"));
  CHECK_THROWS_AS(parse_dtype("f32"), grpo::Error);
}

TEST_CASE("write -> read round trip keeps dtype, shape and bytes", "[cpu]") {
  TempDir dir;
  const auto f32 = iota_bytes(2 * 3 * 4, 1);
  const auto bf16 = iota_bytes(5 * 2, 2);
  const auto i64 = iota_bytes(8, 3);  // a scalar
  const auto f64 = iota_bytes(3 * 8, 4);
  const auto boolean = std::vector<uint8_t>{1, 0, 1};
  const auto i8 = iota_bytes(7, 5);
  const auto f8 = iota_bytes(4, 6);
  std::vector<TensorView> views = {
      {"model.layers.0.weight", DType::F32, {2, 3}, f32.data(), f32.size()},
      {"bf", DType::BF16, {5}, bf16.data(), bf16.size()},
      {"scalar", DType::I64, {}, i64.data(), i64.size()},
      {"empty", DType::U8, {0, 4}, nullptr, 0},
      {"f64", DType::F64, {3}, f64.data(), f64.size()},
      {"mask", DType::BOOL, {3}, boolean.data(), boolean.size()},
      {"odd", DType::I8, {7}, i8.data(), i8.size()},
      {"fp8", DType::F8_E4M3, {2, 2}, f8.data(), f8.size()},
  };
  const std::string path = dir.file("model.safetensors");
  write_safetensors(path, views);

  auto file = SafetensorsFile::open(path);
  REQUIRE(file->tensors().size() == views.size());
  CHECK(file->path() == path);
  for (const auto& v : views) {
    const TensorInfo& t = file->at(v.name);
    CHECK(t.dtype == v.dtype);
    CHECK(t.shape == v.shape);
    CHECK(t.nbytes() == v.nbytes);
    CHECK(tensor_bytes(*file, t) == std::string(static_cast<const char*>(v.data), v.nbytes));
    // The writer's order (element size descending) plus the 8-byte header padding aligns every tensor.
    CHECK(reinterpret_cast<uintptr_t>(file->data(t)) % dtype_size(t.dtype) == 0);
  }
  CHECK(file->at("scalar").numel() == 1);
  CHECK(file->at("empty").numel() == 0);
  CHECK(file->find("absent") == nullptr);
  CHECK_THROWS_WITH(file->at("absent"), Contains(path) && Contains("\"absent\"") && Contains("HINT"));

  // Header order is the reference writer's: dtype size descending, then name.
  std::vector<std::string> order;
  for (const auto& t : file->tensors()) order.push_back(t.name);
  CHECK(order ==
        std::vector<std::string>{"f64", "scalar", "model.layers.0.weight", "bf", "empty", "fp8", "mask", "odd"});

  const std::string raw = read_bytes(path);
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= uint64_t(uint8_t(raw[i])) << (8 * i);
  CHECK(n % 8 == 0);
  CHECK(raw[8] == '{');
  CHECK(raw.size() == 8 + n + f32.size() + bf16.size() + i64.size() + f64.size() + 3 + 7 + 4);
}

TEST_CASE("metadata round trips and empty metadata omits __metadata__", "[cpu]") {
  TempDir dir;
  const float x = 1.5f;
  std::vector<TensorView> views = {{"x", DType::F32, {1}, &x, 4}};

  write_safetensors(dir.file("default.safetensors"), views);
  CHECK(SafetensorsFile::open(dir.file("default.safetensors"))->metadata() ==
        std::map<std::string, std::string>{{"format", "pt"}});

  const std::map<std::string, std::string> meta = {{"format", "pt"}, {"step", "12"}, {"quote\"d", "caf\xc3\xa9\n"}};
  write_safetensors(dir.file("meta.safetensors"), views, meta);
  CHECK(SafetensorsFile::open(dir.file("meta.safetensors"))->metadata() == meta);

  write_safetensors(dir.file("none.safetensors"), views, {});
  CHECK(SafetensorsFile::open(dir.file("none.safetensors"))->metadata().empty());
  CHECK(read_bytes(dir.file("none.safetensors")).find("__metadata__") == std::string::npos);

  CHECK_THROWS_WITH(write_safetensors(dir.file("bad.safetensors"), views, {{"format", "\xff"}}),
                    Contains("bad.safetensors") && Contains("UTF-8"));
}

TEST_CASE("hand-crafted valid files: unaligned, empty body, empty tensors, unknown keys", "[cpu]") {
  TempDir dir;
  // No padding: the data starts at an odd offset and must still be found.
  const std::string odd = raw_file(
      R"({"a":{"dtype":"I16","shape":[2],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[],"data_offsets":[4,5]}})",
      std::string("\x01\x02\x03\x04\x05", 5));
  write_bytes(dir.file("odd.safetensors"), odd);
  auto f = SafetensorsFile::open(dir.file("odd.safetensors"));
  CHECK(tensor_bytes(*f, f->at("a")) == std::string("\x01\x02\x03\x04", 4));
  CHECK(tensor_bytes(*f, f->at("b")) == "\x05");
  CHECK(f->tensors()[0].name == "a");  // header order, not sorted
  CHECK(f->at("b").shape.empty());

  // Zero tensors and no data: valid, with or without metadata, padded with spaces.
  write_bytes(dir.file("empty.safetensors"), raw_file("{}      "));
  CHECK(SafetensorsFile::open(dir.file("empty.safetensors"))->tensors().empty());
  write_bytes(dir.file("meta_only.safetensors"), raw_file(R"({"__metadata__":{"k":"v"}})"));
  CHECK(SafetensorsFile::open(dir.file("meta_only.safetensors"))->metadata().at("k") == "v");

  // Two empty tensors at offset 0, one at the end; an unknown key in an entry is ignored (serde does too).
  const std::string empties = raw_file(
      R"({"z":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},)"
      R"("y":{"dtype":"F64","shape":[3,0],"data_offsets":[0,0]},)"
      R"("w":{"dtype":"U8","shape":[2],"data_offsets":[0,2],"extra":[1,2]},)"
      R"("v":{"dtype":"F16","shape":[0],"data_offsets":[2,2]}})",
      "ab");
  write_bytes(dir.file("empties.safetensors"), empties);
  auto e = SafetensorsFile::open(dir.file("empties.safetensors"));
  CHECK(e->tensors().size() == 4);
  CHECK(tensor_bytes(*e, e->at("w")) == "ab");
  CHECK(e->at("v").nbytes() == 0);
}

TEST_CASE("open rejects malformed files, naming the file and the tensor", "[cpu]") {
  TempDir dir;
  const std::string ok_entry = R"({"dtype":"F32","shape":[1],"data_offsets":[0,4]})";
  auto one = [&](const std::string& entry, const std::string& data = std::string(4, 'x')) {
    return open_error(dir, raw_file("{\"w\":" + entry + "}", data));
  };

  SECTION("too short for the length prefix") {
    EXPECT_FILE_ERROR(open_error(dir, ""), "shorter than");
    EXPECT_FILE_ERROR(open_error(dir, "abc"), "shorter than");
  }
  SECTION("header length past the end of the file or over the limit") {
    EXPECT_FILE_ERROR(open_error(dir, raw_file_with_length(1000, "{}")), "past the end");
    EXPECT_FILE_ERROR(open_error(dir, raw_file_with_length(200'000'000, "{}")), "exceeds the limit");
    EXPECT_FILE_ERROR(open_error(dir, raw_file_with_length(~0ull, "{}")), "exceeds the limit");
  }
  SECTION("header not starting with '{'") {
    EXPECT_FILE_ERROR(open_error(dir, raw_file(" {}")), "start with '{'");
    EXPECT_FILE_ERROR(open_error(dir, raw_file("[]")), "start with '{'");
    EXPECT_FILE_ERROR(open_error(dir, raw_file("")), "start with '{'");
  }
  SECTION("invalid JSON") {
    EXPECT_FILE_ERROR(open_error(dir, raw_file(R"({"w": {"dtype":"F32",)")), "invalid JSON");
    EXPECT_FILE_ERROR(open_error(dir, raw_file(std::string("{}\0", 3))), "invalid JSON");
    EXPECT_FILE_ERROR(open_error(dir, raw_file("{\"\xff\":1}")), "invalid JSON");
    EXPECT_FILE_ERROR(open_error(dir, raw_file("{} {}")), "invalid JSON");
    EXPECT_FILE_ERROR(open_error(dir, raw_file(R"({"w":{"shape":[[[[1]]]]}})")), "nested deeper");
  }
  SECTION("entry not an object, or missing / wrongly typed fields") {
    EXPECT_TENSOR_ERROR(one("3"), "not a JSON object");
    EXPECT_TENSOR_ERROR(one("[]"), "not a JSON object");
    EXPECT_TENSOR_ERROR(one(R"({"shape":[1],"data_offsets":[0,4]})"), "dtype");
    EXPECT_TENSOR_ERROR(one(R"({"dtype":5,"shape":[1],"data_offsets":[0,4]})"), "dtype");
    EXPECT_TENSOR_ERROR(one(R"({"dtype":"F32","data_offsets":[0,4]})"), "shape");
    EXPECT_TENSOR_ERROR(one(R"({"dtype":"F32","shape":"1","data_offsets":[0,4]})"), "shape");
    EXPECT_TENSOR_ERROR(one(R"({"dtype":"F32","shape":[1.0],"data_offsets":[0,4]})"), "non-integer");
    EXPECT_TENSOR_ERROR(one(R"({"dtype":"F32","shape":[1]})"), "data_offsets");
    EXPECT_TENSOR_ERROR(one(R"({"dtype":"F32","shape":[1],"data_offsets":[0]})"), "data_offsets");
    EXPECT_TENSOR_ERROR(one(R"({"dtype":"F32","shape":[1],"data_offsets":[0,4,8]})"), "data_offsets");
    EXPECT_TENSOR_ERROR(one(R"({"dtype":"F32","shape":[1],"data_offsets":[-4,0]})"), "data_offsets");
    EXPECT_TENSOR_ERROR(one(R"({"dtype":"F32","shape":[1],"data_offsets":["0","4"]})"), "data_offsets");
  }
  SECTION("unknown dtype") {
    EXPECT_TENSOR_ERROR(one(R"({"dtype":"F4","shape":[1],"data_offsets":[0,4]})"), "unknown dtype \"F4\"");
  }
  SECTION("negative, too large or overflowing dims") {
    EXPECT_TENSOR_ERROR(one(R"({"dtype":"F32","shape":[-1],"data_offsets":[0,4]})"), "negative");
    EXPECT_TENSOR_ERROR(one(R"({"dtype":"F32","shape":[9223372036854775808],"data_offsets":[0,4]})"), "too large");
    EXPECT_TENSOR_ERROR(one(R"({"dtype":"U8","shape":[4294967296,4294967296],"data_offsets":[0,0]})", ""),
                        "overflows int64");
  }
  SECTION("byte size numel * dtype_size overflowing uint64") {
    // 2^61 F64 elements = 2^64 bytes, which wraps to 0 and would match [0, 0] without the overflow check.
    EXPECT_TENSOR_ERROR(one(R"({"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,0]})", ""),
                        "overflows uint64");
  }
  SECTION("end < begin, offsets past the buffer, size mismatch") {
    EXPECT_TENSOR_ERROR(one(R"({"dtype":"F32","shape":[1],"data_offsets":[4,0]})"), "< begin");
    EXPECT_TENSOR_ERROR(one(R"({"dtype":"F32","shape":[2],"data_offsets":[0,8]})"), "past the data buffer");
    EXPECT_TENSOR_ERROR(one(R"({"dtype":"F32","shape":[2],"data_offsets":[0,4]})"), "needs 8");
    EXPECT_TENSOR_ERROR(one(R"({"dtype":"F32","shape":[1],"data_offsets":[0,18446744073709551615]})"),
                        "past the data buffer");
  }
  SECTION("overlaps, holes and trailing bytes") {
    const std::string a = R"("a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]})";
    EXPECT_FILE_ERROR(open_error(dir, raw_file("{" + a + R"(,"b":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}})",
                                               std::string(6, 'x'))),
                      "tensor \"b\"", "overlaps tensor \"a\"");
    EXPECT_FILE_ERROR(open_error(dir, raw_file("{" + a + R"(,"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
                                               std::string(4, 'x'))),
                      "overlaps");
    EXPECT_FILE_ERROR(
        open_error(dir, raw_file(R"({"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", std::string(8, 'x'))),
        "tensor \"b\"", "hole of 4 bytes");
    EXPECT_FILE_ERROR(open_error(dir, raw_file("{" + a + "}", std::string(8, 'x'))), "4 bytes after the last tensor");
    EXPECT_FILE_ERROR(open_error(dir, raw_file("{}", "x")), "after the last tensor");
  }
  SECTION("duplicate names and duplicate keys") {
    EXPECT_FILE_ERROR(open_error(dir, raw_file("{\"w\":" + ok_entry + ",\"w\":" + ok_entry + "}", std::string(4, 'x'))),
                      "duplicate tensor name \"w\"");
    EXPECT_FILE_ERROR(one(R"({"dtype":"F32","dtype":"F32","shape":[1],"data_offsets":[0,4]})"),
                      "duplicate key \"dtype\" inside \"w\"");
    EXPECT_FILE_ERROR(open_error(dir, raw_file(R"({"__metadata__":{"k":"a","k":"b"}})")), "duplicate");
  }
  SECTION("__metadata__ not an object of strings") {
    EXPECT_FILE_ERROR(open_error(dir, raw_file(R"({"__metadata__":"pt"})")), "__metadata__");
    EXPECT_FILE_ERROR(open_error(dir, raw_file(R"({"__metadata__":{"format":1}})")), "__metadata__", "\"format\"");
    EXPECT_FILE_ERROR(open_error(dir, raw_file(R"({"__metadata__":{"format":null}})")), "__metadata__");
  }
  SECTION("not a regular file, or missing") {
    CHECK_THROWS_WITH(SafetensorsFile::open(dir.path.string()), Contains(dir.path.string()) && Contains("regular"));
    CHECK_THROWS_WITH(SafetensorsFile::open(dir.file("nope.safetensors")), Contains("nope.safetensors"));
  }
}

TEST_CASE("parse_header from memory matches the file reader", "[cpu]") {
  const std::string bytes = raw_file(R"({"t":{"dtype":"U16","shape":[2],"data_offsets":[0,4]}}  )", "abcd");
  const auto h = parse_header(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "mem");
  REQUIRE(h.tensors.size() == 1);
  CHECK(h.data_start == bytes.size() - 4);
  CHECK(h.data_size == 4);
  CHECK_THROWS_WITH(parse_header(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size() - 1, "mem"),
                    Contains("mem") && Contains("tensor \"t\""));
  CHECK_THROWS_WITH(parse_header(nullptr, 0, "nothing"), Contains("nothing") && Contains("shorter than"));
}

TEST_CASE("write_safetensors validates its input and leaves no file behind", "[cpu]") {
  TempDir dir;
  const std::vector<uint8_t> b(8, 1);
  const std::string path = dir.file("w.safetensors");
  CHECK_THROWS_WITH(write_safetensors(path, {{"x", DType::F32, {3}, b.data(), 8}}),
                    Contains("w.safetensors") && Contains("\"x\"") && Contains("needs 12"));
  CHECK_THROWS_WITH(write_safetensors(path, {{"x", DType::F32, {2}, b.data(), 8}, {"x", DType::U8, {8}, b.data(), 8}}),
                    Contains("\"x\"") && Contains("twice"));
  CHECK_THROWS_WITH(write_safetensors(path, {{"x", DType::F32, {-2}, b.data(), 8}}), Contains("negative"));
  CHECK_THROWS_WITH(write_safetensors(path, {{"__metadata__", DType::U8, {8}, b.data(), 8}}), Contains("reserved"));
  CHECK_THROWS_WITH(write_safetensors(path, {{"x", DType::U8, {8}, nullptr, 8}}), Contains("null"));
  CHECK_THROWS_WITH(write_safetensors(dir.file("no/such/dir.safetensors"), {}), Contains("dir.safetensors"));
  CHECK(fs::is_empty(dir.path));
}

TEST_CASE("atomic write: no temp file left, old mappings keep the old bytes", "[cpu]") {
  TempDir dir;
  const std::string path = dir.file("model.safetensors");
  const std::vector<uint8_t> v1(64, 0x11), v2(64, 0x22);
  write_safetensors(path, {{"w", DType::F32, {16}, v1.data(), v1.size()}});
  auto old_file = SafetensorsFile::open(path);

  write_safetensors(path, {{"w", DType::F32, {16}, v2.data(), v2.size()}});
  for (const auto& e : fs::directory_iterator(dir.path))
    CHECK(e.path().filename().string().find(".tmp") == std::string::npos);
  CHECK(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()) == 1);

  // rename() replaced the inode: the first mapping still sees v1, a new open sees v2. An in-place rewrite would
  // have changed (or truncated) the bytes under the first mapping.
  CHECK(tensor_bytes(*old_file, old_file->at("w")) == std::string(64, '\x11'));
  auto new_file = SafetensorsFile::open(path);
  CHECK(tensor_bytes(*new_file, new_file->at("w")) == std::string(64, '\x22'));
}

TEST_CASE("sharded directory round trip with index.json", "[cpu]") {
  TempDir dir;
  std::vector<std::vector<uint8_t>> bufs;
  std::vector<TensorView> views;
  for (int i = 0; i < 6; ++i) {
    bufs.push_back(iota_bytes(40, uint8_t(i * 31)));
    views.push_back({"layer." + std::to_string(5 - i) + ".w", DType::F32, {10}, bufs.back().data(), 40});
  }
  // A stale single file from an earlier save must not shadow the new shards.
  write_safetensors(dir.file("model.safetensors"), {{"stale", DType::U8, {1}, bufs[0].data(), 1}});
  write_safetensors_dir(dir.path.string(), views, /*max_shard_bytes=*/100);  // 2 tensors (80 B) per shard

  CHECK_FALSE(fs::exists(dir.file("model.safetensors")));
  for (const char* f :
       {"model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors", "model-00003-of-00003.safetensors"})
    CHECK(fs::exists(dir.file(f)));
  const auto index = nlohmann::json::parse(read_bytes(dir.file("model.safetensors.index.json")));
  CHECK(index["metadata"]["total_size"] == 240);
  REQUIRE(index["weight_map"].size() == 6);
  CHECK(index["weight_map"]["layer.5.w"] == "model-00001-of-00003.safetensors");
  CHECK(index["weight_map"]["layer.4.w"] == "model-00001-of-00003.safetensors");
  CHECK(index["weight_map"]["layer.3.w"] == "model-00002-of-00003.safetensors");
  CHECK(index["weight_map"]["layer.0.w"] == "model-00003-of-00003.safetensors");
  CHECK(SafetensorsFile::open(dir.file("model-00002-of-00003.safetensors"))->tensors().size() == 2);

  const auto ckpt = SafetensorsCheckpoint::open_dir(dir.path.string());
  CHECK(ckpt.names() ==
        std::vector<std::string>{"layer.0.w", "layer.1.w", "layer.2.w", "layer.3.w", "layer.4.w", "layer.5.w"});
  for (const auto& v : views) {
    REQUIRE(ckpt.contains(v.name));
    auto [file, info] = ckpt.locate(v.name);
    CHECK(info->shape == v.shape);
    CHECK(tensor_bytes(*file, *info) == std::string(static_cast<const char*>(v.data), 40));
  }
  CHECK_FALSE(ckpt.contains("stale"));
  CHECK_THROWS_WITH(ckpt.locate("lm_head.weight"), Contains("lm_head.weight") && Contains(dir.path.string()));

  // Saving again unsharded removes the index and shards.
  write_safetensors_dir(dir.path.string(), views);
  CHECK(fs::exists(dir.file("model.safetensors")));
  CHECK_FALSE(fs::exists(dir.file("model.safetensors.index.json")));
  CHECK_FALSE(fs::exists(dir.file("model-00001-of-00003.safetensors")));
  CHECK(SafetensorsCheckpoint::open_dir(dir.path.string()).names().size() == 6);
}

TEST_CASE("write_safetensors_dir gives an oversized tensor its own shard and checks names across shards", "[cpu]") {
  TempDir dir;
  const std::vector<uint8_t> big(300, 7), small(8, 9);
  write_safetensors_dir(dir.path.string(),
                        {{"a", DType::U8, {8}, small.data(), 8},
                         {"big", DType::U8, {300}, big.data(), 300},
                         {"c", DType::U8, {8}, small.data(), 8}},
                        100);
  const auto index = nlohmann::json::parse(read_bytes(dir.file("model.safetensors.index.json")));
  CHECK(index["weight_map"]["a"] == "model-00001-of-00003.safetensors");
  CHECK(index["weight_map"]["big"] == "model-00002-of-00003.safetensors");
  CHECK(index["weight_map"]["c"] == "model-00003-of-00003.safetensors");

  TempDir dir2;
  CHECK_THROWS_WITH(
      write_safetensors_dir(dir2.path.string(),
                            {{"a", DType::U8, {8}, small.data(), 8}, {"a", DType::U8, {8}, small.data(), 8}}, 8),
      Contains("\"a\"") && Contains("twice"));
  CHECK(fs::is_empty(dir2.path));
  CHECK_THROWS_WITH(write_safetensors_dir(dir.file("missing"), {}), Contains("missing") && Contains("directory"));
}

TEST_CASE("open_dir rejects missing files and bad indexes", "[cpu]") {
  TempDir dir;
  const std::string d = dir.path.string();
  CHECK_THROWS_WITH(SafetensorsCheckpoint::open_dir(d), Contains(d) && Contains("neither") && Contains("HINT"));

  const std::vector<uint8_t> b(4, 1);
  write_safetensors(dir.file("shard.safetensors"), {{"w", DType::F32, {1}, b.data(), 4}});
  auto with_index = [&](const std::string& text) {
    write_bytes(dir.file("model.safetensors.index.json"), text);
    return SafetensorsCheckpoint::open_dir(d);
  };
  CHECK(with_index(R"({"weight_map":{"w":"shard.safetensors"}})").contains("w"));
  CHECK_THROWS_WITH(with_index(R"({"weight_map":{"w":"../shard.safetensors"}})"),
                    Contains("\"w\"") && Contains("not a file name inside"));
  CHECK_THROWS_WITH(with_index(R"({"weight_map":{"w":"/etc/passwd"}})"), Contains("not a file name inside"));
  CHECK_THROWS_WITH(with_index(R"({"weight_map":{"w":".."}})"), Contains("not a file name inside"));
  CHECK_THROWS_WITH(with_index(R"({"weight_map":{"w":"other.safetensors"}})"),
                    Contains("other.safetensors") && Contains("does not exist"));
  CHECK_THROWS_WITH(with_index(R"({"weight_map":{"v":"shard.safetensors"}})"),
                    Contains("\"v\"") && Contains("not in its shard"));
  CHECK_THROWS_WITH(with_index(R"({"weight_map":{"w":3}})"), Contains("\"w\"") && Contains("not a string"));
  CHECK_THROWS_WITH(with_index(R"({"metadata":{}})"), Contains("index.json") && Contains("weight_map"));
  CHECK_THROWS_WITH(with_index(R"({"weight_map":{"w":"shard.safetensors","w":"shard.safetensors"}})"),
                    Contains("index.json") && Contains("duplicate"));
  CHECK_THROWS_WITH(with_index("{"), Contains("index.json") && Contains("invalid JSON"));

  // A corrupt shard is reported with the shard's own path.
  write_bytes(dir.file("shard.safetensors"), "junk");
  CHECK_THROWS_WITH(with_index(R"({"weight_map":{"w":"shard.safetensors"}})"),
                    Contains("shard.safetensors") && Contains("shorter than"));

  // model.safetensors wins over an index, as in transformers.
  write_safetensors(dir.file("model.safetensors"), {{"single", DType::F32, {1}, b.data(), 4}});
  CHECK(SafetensorsCheckpoint::open_dir(d).names() == std::vector<std::string>{"single"});
}
