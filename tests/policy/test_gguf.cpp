// The GGUF reader (policy/gguf.h) and dequantization (policy/gguf_quants.h), torch-free: hand-made blocks of every
// type we read with their values worked out by hand, a valid file read back key by key and tensor by tensor, and
// hostile files (truncated at every byte, lying counts, offsets past the end or unaligned, overlapping tensors,
// unknown types, duplicate names, huge dims), each ending in one grpo::Error that names the file and the problem.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <limits>

#include "kernels/check.h"
#include "policy/gguf.h"
#include "policy/gguf_quants.h"
#include "policy/tokenizer/gguf_vocab.h"
#include "tests/policy/gguf_test_util.h"
#include "tests/temp_dir.h"

using namespace grpo::policy;
using grpo::test::GgufBuilder;
using grpo::test::f32_bytes;

namespace {

std::string u16le(uint16_t v) { return std::string{char(v & 0xff), char(v >> 8)}; }

// Dequantizes a whole byte string of `type`.
std::vector<float> dequant(uint32_t type, const std::string& bytes, int64_t n) {
  std::vector<float> out(size_t(n), -999.0f);
  dequantize_row(type, reinterpret_cast<const uint8_t*>(bytes.data()), out.data(), n, "t");
  return out;
}

// A small valid file: a few keys of each kind and one tensor of each type we read.
GgufBuilder valid_builder() {
  GgufBuilder b;
  b.string("general.architecture", "llama");
  b.u32("llama.block_count", 2);
  b.f32("llama.rope.freq_base", 10000.0f);
  b.boolean("tokenizer.ggml.add_bos_token", true);
  b.u64("big", 1ull << 40);
  b.i32("neg", -7);
  b.strings("tokenizer.ggml.tokens", {"a", "b", "ab"});
  b.i32s("tokenizer.ggml.token_type", {1, 1, 3});
  b.f32s("tokenizer.ggml.scores", {0.5f, -1.0f, 2.0f});
  b.tensor("norm.weight", kGgmlF32, {3}, f32_bytes({1.0f, -2.0f, 0.5f}));
  b.tensor("h.weight", kGgmlF16, {2, 2}, u16le(0x3c00) + u16le(0xc000) + u16le(0x3800) + u16le(0x0000));
  b.tensor("b.weight", kGgmlBF16, {1}, u16le(0x3f80));
  std::string q8 = u16le(0x3800);  // d = 0.5
  for (int j = 0; j < 32; ++j) q8 += char(j - 16);
  b.tensor("q8.weight", kGgmlQ8_0, {32, 1}, q8);
  b.tensor("q40.weight", kGgmlQ4_0, {32}, u16le(0x4000) + std::string(16, char(0x98)));
  b.tensor("q41.weight", kGgmlQ4_1, {32}, u16le(0x3400) + u16le(0xbc00) + std::string(16, char(0xf0)));
  return b;
}

// parse_gguf on `bytes`; returns the error message ("" when it parsed).
std::string parse_error(const std::string& bytes, const std::string& label = "bad.gguf") {
  try {
    parse_gguf(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), label);
    return "";
  } catch (const grpo::Error& e) {
    return e.what();
  }
}

}  // namespace

TEST_CASE("half and bfloat16 bits decode exactly", "[cpu][gguf]") {
  CHECK(half_to_float(0x3c00) == 1.0f);
  CHECK(half_to_float(0xc000) == -2.0f);
  CHECK(half_to_float(0x3555) == 0.333251953125f);  // 1 + 341/1024, times 2^-2
  CHECK(half_to_float(0x7bff) == 65504.0f);         // the largest half
  CHECK(half_to_float(0x0001) == std::ldexp(1.0f, -24));        // smallest subnormal
  CHECK(half_to_float(0x03ff) == std::ldexp(1023.0f, -24));     // largest subnormal
  CHECK(half_to_float(0x0400) == std::ldexp(1.0f, -14));        // smallest normal
  CHECK(half_to_float(0x8000) == 0.0f);
  CHECK(std::signbit(half_to_float(0x8000)));
  CHECK(half_to_float(0x7c00) == std::numeric_limits<float>::infinity());
  CHECK(half_to_float(0xfc00) == -std::numeric_limits<float>::infinity());
  CHECK(std::isnan(half_to_float(0x7e00)));
  CHECK(bf16_to_float(0x3f80) == 1.0f);
  CHECK(bf16_to_float(0xc0a0) == -5.0f);
  CHECK(bf16_to_float(0x0001) == std::ldexp(1.0f, -133));  // a float32 subnormal
}

TEST_CASE("F32, F16 and BF16 rows dequantize to their values", "[cpu][gguf]") {
  CHECK(dequant(kGgmlF32, f32_bytes({1.5f, -0.25f}), 2) == std::vector<float>{1.5f, -0.25f});
  CHECK(dequant(kGgmlF16, u16le(0x3c00) + u16le(0xb800) + u16le(0x4500), 3) ==
        std::vector<float>{1.0f, -0.5f, 5.0f});
  CHECK(dequant(kGgmlBF16, u16le(0x4049) + u16le(0xbf00), 2) == std::vector<float>{3.140625f, -0.5f});
}

TEST_CASE("Q8_0 blocks: x = q * d", "[cpu][gguf]") {
  // Two blocks: d = 0.5 with q = -128, -1, 0, 1, 127, then 3 for the rest; d = -2 (0xc000) with q = 0..31.
  std::string b = u16le(0x3800) + std::string{char(-128), char(-1), 0, 1, 127} + std::string(27, char(3));
  b += u16le(0xc000);
  for (int j = 0; j < 32; ++j) b += char(j);
  const auto x = dequant(kGgmlQ8_0, b, 64);
  CHECK(x[0] == -64.0f);
  CHECK(x[1] == -0.5f);
  CHECK(x[2] == 0.0f);
  CHECK(x[3] == 0.5f);
  CHECK(x[4] == 63.5f);
  CHECK(x[31] == 1.5f);
  CHECK(x[32] == 0.0f);
  CHECK(x[33] == -2.0f);
  CHECK(x[63] == -62.0f);
}

TEST_CASE("Q4_0 blocks: x = (q - 8) * d, low nibbles first", "[cpu][gguf]") {
  // d = 2; byte j holds q = j in its low nibble (element j) and q = 15 - j in its high nibble (element 16 + j).
  std::string b = u16le(0x4000);
  for (int j = 0; j < 16; ++j) b += char(j | ((15 - j) << 4));
  const auto x = dequant(kGgmlQ4_0, b, 32);
  CHECK(x[0] == -16.0f);   // (0 - 8) * 2
  CHECK(x[8] == 0.0f);     // (8 - 8) * 2
  CHECK(x[15] == 14.0f);   // (15 - 8) * 2
  CHECK(x[16] == 14.0f);   // high nibble of byte 0: 15
  CHECK(x[24] == -2.0f);   // high nibble of byte 8: 7
  CHECK(x[31] == -16.0f);  // high nibble of byte 15: 0
}

TEST_CASE("Q4_1 blocks: x = q * d + m, low nibbles first", "[cpu][gguf]") {
  // d = 0.25, m = -1; byte j holds q = j (low) and q = 15 - j (high).
  std::string b = u16le(0x3400) + u16le(0xbc00);
  for (int j = 0; j < 16; ++j) b += char(j | ((15 - j) << 4));
  // A second block: d = 0.5 (0x3800), m = 3 (0x4200), every nibble 5 -> 5.5.
  b += u16le(0x3800) + u16le(0x4200) + std::string(16, char(0x55));
  const auto x = dequant(kGgmlQ4_1, b, 64);
  CHECK(x[0] == -1.0f);
  CHECK(x[5] == 0.25f);
  CHECK(x[15] == 2.75f);
  CHECK(x[16] == 2.75f);
  CHECK(x[31] == -1.0f);
  for (int j = 32; j < 64; ++j) CHECK(x[size_t(j)] == 5.5f);
}

TEST_CASE("types we do not dequantize stop naming the tensor and the type", "[cpu][gguf]") {
  float out[256];
  const uint8_t zeros[256] = {};
  CHECK_THROWS_WITH(dequantize_row(12, zeros, out, 256, "blk.0.ffn_down.weight"),
                    Catch::Contains("blk.0.ffn_down.weight") && Catch::Contains("Q4_K"));
  CHECK_THROWS_WITH(dequantize_row(99, zeros, out, 32, "x"), Catch::Contains("'x'") && Catch::Contains("unknown"));
  CHECK_THROWS_WITH(dequantize_row(kGgmlQ8_0, zeros, out, 33, "y"), Catch::Contains("whole Q8_0 blocks"));
  CHECK(!can_dequantize(6));  // Q5_0
  CHECK(can_dequantize(kGgmlQ4_1));
}

TEST_CASE("a valid GGUF file reads back: typed keys, tensor infos, data", "[cpu][gguf]") {
  const GgufBuilder b = valid_builder();
  grpo::test::TempDir dir;
  const std::string path = dir.file("ok.gguf", b.build());
  const auto f = GgufFile::open(path);
  const GgufHeader& h = f->header();
  CHECK(h.version == 3);
  CHECK(h.alignment == 32);
  CHECK(h.data_start == b.data_start());
  CHECK(h.data_start % 32 == 0);
  CHECK(h.get_string("general.architecture") == "llama");
  CHECK(h.get_int("llama.block_count") == 2);
  CHECK(h.get_float("llama.rope.freq_base") == 10000.0);
  CHECK(h.get_bool("tokenizer.ggml.add_bos_token") == true);
  CHECK(h.get_int("big") == int64_t(1) << 40);
  CHECK(h.get_int("neg") == -7);
  CHECK(!h.get_int("absent").has_value());
  CHECK(h.get_string_array("tokenizer.ggml.tokens") == std::vector<std::string_view>{"a", "b", "ab"});
  CHECK(h.get_int32_array("tokenizer.ggml.token_type") == std::vector<int32_t>{1, 1, 3});
  CHECK(h.get_float_array("tokenizer.ggml.scores") == std::vector<float>{0.5f, -1.0f, 2.0f});
  CHECK_THROWS_WITH(h.get_string("llama.block_count"), Catch::Contains("ok.gguf") && Catch::Contains("u32"));
  CHECK_THROWS_WITH(h.get_int("general.architecture"), Catch::Contains("expected an integer"));
  CHECK_THROWS_WITH(h.get_string_array("llama.block_count"), Catch::Contains("expected an array"));

  REQUIRE(f->tensors().size() == 6);
  const GgufTensorInfo& hw = *h.find_tensor("h.weight");
  CHECK(hw.ne == std::vector<int64_t>{2, 2});
  CHECK(hw.shape() == std::vector<int64_t>{2, 2});
  CHECK(hw.nbytes == 8);
  CHECK(std::string(hw.type_name()) == "F16");
  const GgufTensorInfo& q8 = *h.find_tensor("q8.weight");
  CHECK(q8.shape() == std::vector<int64_t>{1, 32});
  CHECK(q8.nbytes == 34);
  CHECK(q8.offset % 32 == 0);
  std::vector<float> x(32);
  dequantize_row(q8.type, f->data(q8), x.data(), 32, q8.name);
  CHECK(x[0] == -8.0f);   // (0 - 16) * 0.5
  CHECK(x[31] == 7.5f);   // (31 - 16) * 0.5
  const GgufTensorInfo& q40 = *h.find_tensor("q40.weight");
  dequantize_row(q40.type, f->data(q40), x.data(), 32, q40.name);
  CHECK(x[0] == 0.0f);    // low nibble 8: (8 - 8) * 2
  CHECK(x[16] == 2.0f);   // high nibble 9: (9 - 8) * 2
  const GgufTensorInfo& q41 = *h.find_tensor("q41.weight");
  dequantize_row(q41.type, f->data(q41), x.data(), 32, q41.name);
  CHECK(x[0] == -1.0f);   // 0 * 0.25 - 1
  CHECK(x[31] == 2.75f);  // 15 * 0.25 - 1
  const GgufTensorInfo& norm = *h.find_tensor("norm.weight");
  dequantize_row(norm.type, f->data(norm), x.data(), 3, norm.name);
  CHECK(x[1] == -2.0f);

  // general.alignment moves the data section and the offsets.
  GgufBuilder a = valid_builder();
  a.u32("general.alignment", 64);
  a.alignment = 64;
  const std::string bytes = a.build();
  const GgufHeader h64 = parse_gguf(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "a64");
  CHECK(h64.alignment == 64);
  CHECK(h64.data_start % 64 == 0);
  for (const auto& t : h64.tensors) CHECK(t.offset % 64 == 0);

  // Vocabulary-only files (llama.cpp's ggml-vocab-*.gguf) end before their aligned data section.
  GgufBuilder v;
  v.string("tokenizer.ggml.model", "gpt2");
  v.strings("tokenizer.ggml.tokens", {"x"});
  std::string vb = v.build();
  vb.resize(vb.size() - 3);
  REQUIRE(parse_error(vb) == "");
}

TEST_CASE("a GGUF file truncated at any byte stops with one error naming it", "[cpu][gguf]") {
  const std::string good = valid_builder().build();
  REQUIRE(parse_error(good) == "");
  int n = 0;
  for (size_t len = 0; len < good.size(); ++len) {
    const std::string msg = parse_error(good.substr(0, len), "cut.gguf");
    INFO("cut at " << len << " of " << good.size() << ": " << msg);
    REQUIRE(msg.rfind("cut.gguf: ", 0) == 0);  // starts with the file
    REQUIRE(msg.find("truncated") != std::string::npos);
    REQUIRE(msg.find('\n') == std::string::npos);
    ++n;
  }
  CHECK(n == int(good.size()));
}

TEST_CASE("hostile GGUF headers stop with one error naming the file and the problem", "[cpu][gguf]") {
  auto expect = [](const std::string& bytes, const std::string& what) {
    const std::string msg = parse_error(bytes, "evil.gguf");
    INFO(msg);
    CHECK(msg.rfind("evil.gguf: ", 0) == 0);
    CHECK(msg.find(what) != std::string::npos);
    CHECK(msg.find('\n') == std::string::npos);
  };
  std::string good = valid_builder().build();
  expect("GGML" + good.substr(4), "bad magic");
  {
    GgufBuilder b = valid_builder();
    b.version = 1;
    expect(b.build(), "GGUF version 1");
    b.version = 0x03000000;
    expect(b.build(), "big-endian");
  }
  {  // Lying counts: bounded by the file size before anything is allocated.
    GgufBuilder b = valid_builder();
    b.tensor_count = uint64_t(1) << 60;
    expect(b.build(), "the tensor count 1152921504606846976 is more than the file can hold");
    b.tensor_count = 7;  // one more than written: the reader runs into the data section
    expect(b.build(), "");
    b.tensor_count.reset();
    b.kv_count = ~uint64_t(0);
    expect(b.build(), "the key/value count 18446744073709551615 is more than the file can hold");
    b.kv_count = 5;  // fewer: the rest of the key/values are read as tensor infos
    CHECK(parse_error(b.build()) != "");
  }
  {  // Lying lengths inside key/values.
    GgufBuilder b;
    std::string v;
    GgufBuilder::put(v, uint32_t(8));
    GgufBuilder::put(v, uint64_t(1) << 62);
    b.raw("general.name", v);
    expect(b.build(), "claims a string of 4611686018427387904 bytes");
    GgufBuilder c;
    std::string arr;
    GgufBuilder::put(arr, uint32_t(9));
    GgufBuilder::put(arr, uint32_t(8));
    GgufBuilder::put(arr, uint64_t(1) << 61);
    c.raw("tokenizer.ggml.tokens", arr);
    expect(c.build(), "claims 2305843009213693952 strings");
    GgufBuilder d;
    std::string ints;
    GgufBuilder::put(ints, uint32_t(9));
    GgufBuilder::put(ints, uint32_t(5));
    GgufBuilder::put(ints, uint64_t(1) << 62);
    d.raw("tokenizer.ggml.token_type", ints);
    expect(d.build(), "claims 4611686018427387904 elements of 4 bytes");
    GgufBuilder e;
    std::string nested;
    GgufBuilder::put(nested, uint32_t(9));
    GgufBuilder::put(nested, uint32_t(9));
    GgufBuilder::put(nested, uint64_t(1));
    e.raw("nested", nested);
    expect(e.build(), "array of arrays");
    GgufBuilder f;
    std::string unknown;
    GgufBuilder::put(unknown, uint32_t(13));
    f.raw("weird", unknown + "xxxxxxxx");
    expect(f.build(), "unknown value type 13");
  }
  {  // Duplicate keys and names; empty and over-long names.
    GgufBuilder b = valid_builder();
    b.u32("llama.block_count", 3);
    expect(b.build(), "duplicate key 'llama.block_count'");
    GgufBuilder c = valid_builder();
    c.tensor("norm.weight", kGgmlF32, {1}, f32_bytes({1.0f}));
    expect(c.build(), "duplicate tensor name 'norm.weight'");
    GgufBuilder d = valid_builder();
    d.tensor("", kGgmlF32, {1}, f32_bytes({1.0f}));
    expect(d.build(), "has a name of 0 bytes");
    GgufBuilder e = valid_builder();
    e.tensor(std::string(65, 'n'), kGgmlF32, {1}, f32_bytes({1.0f}));
    expect(e.build(), "has a name of 65 bytes");
  }
  {  // Alignment.
    GgufBuilder b = valid_builder();
    b.u32("general.alignment", 48);
    expect(b.build(), "general.alignment 48 is not a power of two");
    GgufBuilder c = valid_builder();
    c.u32("general.alignment", 0);
    expect(c.build(), "general.alignment 0 is not a power of two");
    GgufBuilder d = valid_builder();
    d.u64("general.alignment", 32);
    expect(d.build(), "general.alignment has type u64, expected u32");
  }
  {  // Dims: count, overflow, block multiples, more bytes than the file.
    GgufBuilder b = valid_builder();
    b.tensors[0].n_dims = 5;
    b.tensors[0].ne = {1, 1, 1, 1, 3};
    expect(b.build(), "'norm.weight' has 5 dims; GGUF allows 1 to 4");
    b.tensors[0].n_dims = 0;
    b.tensors[0].ne = {};
    expect(b.build(), "'norm.weight' has 0 dims");
    GgufBuilder c = valid_builder();
    c.tensors[0].ne = {uint64_t(1) << 62, uint64_t(1) << 62};
    expect(c.build(), "'norm.weight' has dims whose product overflows int64");
    c.tensors[0].ne = {uint64_t(1) << 63};
    expect(c.build(), "(negative as int64)");
    c.tensors[0].ne = {uint64_t(1) << 40, 1024};
    expect(c.build(), "'norm.weight' (1125899906842624 elements of F32) is larger than the file");
    GgufBuilder d = valid_builder();
    d.tensors[4].ne = {31};
    expect(d.build(), "'q40.weight' has ne[0] = 31, not a multiple of the Q4_0 block size 32");
  }
  {  // Types.
    GgufBuilder b = valid_builder();
    b.tensors[1].type = 4;  // Q4_2, retired
    expect(b.build(), "'h.weight' has unknown type 4");
    b.tensors[1].type = 1000;
    expect(b.build(), "'h.weight' has unknown type 1000");
  }
  {  // Offsets: unaligned, past the end, overlapping.
    GgufBuilder b = valid_builder();
    b.tensors[2].offset = 33;
    expect(b.build(), "'b.weight' offset 33 is not a multiple of the alignment 32");
    GgufBuilder c = valid_builder();
    c.tensors[5].offset = uint64_t(1) << 40;
    expect(c.build(), "'q41.weight' (Q4_1, 20 bytes at data offset 1099511627776) ends past the end of the file");
    c.tensors[5].offset = ~uint64_t(0) & ~uint64_t(31);  // offset + size would wrap around
    expect(c.build(), "ends past the end of the file");
    GgufBuilder e = valid_builder();
    e.tensors[3].offset = 0;  // q8.weight over norm.weight
    expect(e.build(), "tensors 'norm.weight' [0, 12) and 'q8.weight' [0, 34) overlap");
  }
}

TEST_CASE("the vocabulary reader shares the GGUF header parser", "[cpu][gguf][tokenizer]") {
  GgufBuilder b;
  b.string("tokenizer.ggml.model", "gpt2");
  b.string("tokenizer.ggml.pre", "smollm");
  b.strings("tokenizer.ggml.tokens", {"<s>", "a", "b"});
  b.i32s("tokenizer.ggml.token_type", {3, 1, 1});
  b.strings("tokenizer.ggml.merges", {"a b"});
  b.u32("tokenizer.ggml.bos_token_id", 0);
  b.u32("tokenizer.ggml.eos_token_id", 0);
  b.string("tokenizer.chat_template", "{{ messages }}");
  grpo::test::TempDir dir;
  const GgufVocab v = read_gguf_vocab(dir.file("v.gguf", b.build()));
  CHECK(v.model == "gpt2");
  CHECK(v.pre == "smollm");
  CHECK(v.tokens == std::vector<std::string>{"<s>", "a", "b"});
  CHECK(v.token_types == std::vector<int32_t>{3, 1, 1});
  CHECK(v.merges == std::vector<std::string>{"a b"});
  CHECK(v.bos_id == 0);
  CHECK(v.pad_id == -1);
  CHECK(v.chat_template == "{{ messages }}");
  b.u32("tokenizer.ggml.padding_token_id", 7);
  CHECK_THROWS_WITH(read_gguf_vocab(dir.file("w.gguf", b.build())),
                    Catch::Contains("w.gguf") && Catch::Contains("special token id 7"));
}
