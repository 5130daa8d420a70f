// Seeded mutation fuzzing of the GGUF reader: valid files, randomly corrupted, must either parse with every tensor
// inside the file (then dequantize, and every key read through the typed accessors) or throw grpo::Error naming the
// file; any other exception, or a crash, fails. Built a second time under ASan + UBSan (ctest gguf_fuzz_asan), so
// a read out of bounds fails too. Not a coverage-guided fuzzer.
#include <unistd.h>

#include <algorithm>
#include <array>
#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>

#include "kernels/check.h"
#include "policy/gguf.h"
#include "policy/gguf_quants.h"
#include "policy/tokenizer/gguf_vocab.h"
#include "tests/policy/gguf_test_util.h"
#include "tests/fuzz_loop.h"
#include "tests/temp_dir.h"

using namespace grpo::policy;
using grpo::test::GgufBuilder;
using grpo::test::Bytes;

namespace {

constexpr int kIterations = 100'000;
constexpr int kFileEvery = 997;  // every this many iterations, also through a real file (mmap, vocabulary reader)

Bytes to_bytes(const std::string& s) { return Bytes(s.begin(), s.end()); }

std::string pattern(size_t n, uint8_t seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = char(uint8_t(seed + i * 37));
  return s;
}

std::vector<Bytes> make_seeds() {
  std::vector<Bytes> seeds;
  {  // A model-like file: every type we read, a vocabulary, typed keys.
    GgufBuilder b;
    b.string("general.architecture", "llama");
    b.u32("llama.block_count", 1);
    b.f32("llama.rope.freq_base", 10000.0f);
    b.string("tokenizer.ggml.model", "gpt2");
    b.strings("tokenizer.ggml.tokens", {"a", "b", "ab", "<s>"});
    b.i32s("tokenizer.ggml.token_type", {1, 1, 1, 3});
    b.strings("tokenizer.ggml.merges", {"a b"});
    b.u32("tokenizer.ggml.bos_token_id", 3);
    b.boolean("tokenizer.ggml.add_bos_token", false);
    b.tensor("token_embd.weight", kGgmlQ8_0, {32, 2}, pattern(68, 1));
    b.tensor("blk.0.attn_q.weight", kGgmlQ4_0, {32, 2}, pattern(36, 2));
    b.tensor("blk.0.attn_k.weight", kGgmlQ4_1, {64, 1}, pattern(40, 3));
    b.tensor("blk.0.ffn_up.weight", kGgmlF16, {4, 2}, pattern(16, 4));
    b.tensor("blk.0.ffn_gate.weight", kGgmlBF16, {2, 2, 2}, pattern(16, 5));
    b.tensor("output_norm.weight", kGgmlF32, {3}, pattern(12, 6));
    b.tensor("blk.0.ffn_down.weight", 12, {256}, pattern(144, 7));  // Q4_K: parsed, not dequantized
    seeds.push_back(to_bytes(b.build()));
  }
  {  // Alignment 64, a 4-d tensor, f32 and i32 arrays.
    GgufBuilder b;
    b.u32("general.alignment", 64);
    b.alignment = 64;
    b.f32s("tokenizer.ggml.scores", {0.5f, 1.5f});
    b.i32s("x", {-1, 2});
    b.u64("y", 5);
    b.tensor("a", kGgmlF32, {1, 2, 1, 2}, pattern(16, 8));
    b.tensor("b", kGgmlQ4_1, {32}, pattern(20, 9));
    seeds.push_back(to_bytes(b.build()));
  }
  {  // Vocabulary only (no tensors), and an empty v2 file.
    GgufBuilder b;
    b.string("tokenizer.ggml.model", "gpt2");
    b.strings("tokenizer.ggml.tokens", {"x", "y"});
    seeds.push_back(to_bytes(b.build()));
    GgufBuilder e;
    e.version = 2;
    seeds.push_back(to_bytes(e.build()));
  }
  return seeds;
}

void mutate(Bytes& b, std::mt19937_64& rng) {
  auto pick = [&](uint64_t n) { return n == 0 ? uint64_t(0) : rng() % n; };
  // Positions are biased toward the header (the first few hundred bytes), where the structure is.
  auto position = [&]() -> size_t {
    if (b.empty()) return 0;
    return pick(4) < 3 ? size_t(pick(std::min<uint64_t>(b.size(), 512))) : size_t(pick(b.size()));
  };
  switch (pick(8)) {
    case 0:  // bit flip
      if (!b.empty()) b[position()] ^= uint8_t(1u << pick(8));
      break;
    case 1:  // random byte
      if (!b.empty()) b[position()] = uint8_t(rng());
      break;
    case 2: {  // overwrite 1, 4 or 8 bytes with an interesting value (a count, length, dim, type or offset)
      const uint64_t values[] = {0, 1, 2, 3, 4, 5, 8, 9, 12, 13, 31, 32, 33, 63, 64, 255, 256, 0x7fffffffull,
                                 0xffffffffull, 1ull << 32, 1ull << 40, 1ull << 62, 1ull << 63, ~0ull,
                                 uint64_t(b.size()), uint64_t(b.size()) - 1, uint64_t(rng())};
      const uint64_t v = values[pick(sizeof(values) / sizeof(values[0]))];
      const size_t width = std::array<size_t, 3>{1, 4, 8}[pick(3)];
      const size_t at = position();
      for (size_t i = 0; i < width && at + i < b.size(); ++i) b[at + i] = uint8_t(v >> (8 * i));
      break;
    }
    case 3: {  // insert random bytes
      const size_t at = position();
      for (uint64_t i = 0, k = 1 + pick(8); i < k; ++i) b.insert(b.begin() + std::ptrdiff_t(at), uint8_t(rng()));
      break;
    }
    case 4: {  // delete a range
      if (b.empty()) break;
      const size_t at = position();
      const size_t len = std::min<size_t>(1 + pick(16), b.size() - at);
      b.erase(b.begin() + std::ptrdiff_t(at), b.begin() + std::ptrdiff_t(at + len));
      break;
    }
    case 5:  // truncate
      b.resize(size_t(pick(b.size() + 1)));
      break;
    case 6: {  // duplicate a slice in place (repeated keys, names, tensor infos)
      if (b.size() < 4) break;
      const size_t from = position(), len = std::min<size_t>(1 + pick(64), b.size() - from);
      const Bytes slice(b.begin() + std::ptrdiff_t(from), b.begin() + std::ptrdiff_t(from + len));
      const size_t at = position();
      b.insert(b.begin() + std::ptrdiff_t(at), slice.begin(), slice.end());
      break;
    }
    default:  // append bytes
      for (uint64_t i = 0, k = 1 + pick(64); i < k; ++i) b.push_back(uint8_t(rng()));
  }
}

// The promise of an accepted header, and a read of everything it points at.
std::string check_accepted(const GgufHeader& h, const uint8_t* data, size_t size, double* checksum) {
  std::set<std::string> names;
  for (const auto& t : h.tensors) {
    if (!names.insert(t.name).second) return "duplicate tensor \"" + t.name + "\"";
    const GgmlTypeInfo* ti = ggml_type_info(t.type);
    if (ti == nullptr) return "unknown type in \"" + t.name + "\"";
    int64_t numel = 1;
    for (int64_t d : t.ne) {
      if (d < 0) return "negative dim in \"" + t.name + "\"";
      numel *= d;
    }
    if (t.ne.empty() || t.ne.size() > 4 || numel != t.numel || t.ne[0] % ti->block_size != 0 ||
        t.nbytes != uint64_t(numel) / ti->block_size * ti->type_size)
      return "size mismatch in \"" + t.name + "\"";
    if (t.offset % h.alignment != 0) return "unaligned \"" + t.name + "\"";
    if (t.nbytes > 0 && (h.data_start > size || t.offset > size - h.data_start ||
                         t.nbytes > size - h.data_start - t.offset))
      return "tensor \"" + t.name + "\" outside the file";
    for (const auto& u : h.tensors)
      if (&u != &t && t.nbytes > 0 && u.nbytes > 0 && t.offset < u.offset + u.nbytes && u.offset < t.offset + t.nbytes)
        return "tensors \"" + t.name + "\" and \"" + u.name + "\" overlap";
    if (can_dequantize(t.type) && t.nbytes > 0) {
      std::vector<float> out(size_t(t.numel));
      dequantize_row(t.type, data + h.data_start + t.offset, out.data(), t.numel, t.name);
      for (float x : out) *checksum += (x == x && x - x == 0) ? x : 1.0;  // finite values, and a count of the rest
    }
  }
  // Every key through the accessors: a wrong type is a grpo::Error, nothing else.
  for (const auto& [key, v] : h.kv) {
    for (auto read : {+[](const GgufHeader& hh, const std::string& k) { (void)hh.get_string(k); },
                      +[](const GgufHeader& hh, const std::string& k) { (void)hh.get_int(k); },
                      +[](const GgufHeader& hh, const std::string& k) { (void)hh.get_float(k); },
                      +[](const GgufHeader& hh, const std::string& k) { (void)hh.get_bool(k); },
                      +[](const GgufHeader& hh, const std::string& k) { (void)hh.get_string_array(k); },
                      +[](const GgufHeader& hh, const std::string& k) { (void)hh.get_int32_array(k); },
                      +[](const GgufHeader& hh, const std::string& k) { (void)hh.get_float_array(k); }}) {
      try {
        read(h, key);
      } catch (const grpo::Error&) {
      }
    }
  }
  return "";
}

}  // namespace

TEST_CASE("GGUF reader survives 100k random mutations", "[cpu][fuzz][gguf]") {
  grpo::test::TempDir dir("grpo_test_gguf_fuzz");
  const auto seeds = make_seeds();
  for (const auto& s : seeds) REQUIRE_NOTHROW(parse_gguf(s.data(), s.size(), "seed"));

  double checksum = 0;
  const grpo::test::FuzzStats st = grpo::test::run_fuzz_loop(
      seeds, 0x66756a7aull, kIterations, kFileEvery, "fuzz.gguf: ", mutate,
      [&](const Bytes& exact) {
        const GgufHeader h = parse_gguf(exact.data(), exact.size(), "fuzz.gguf");
        return check_accepted(h, exact.data(), exact.size(), &checksum);
      },
      [&](const Bytes& b, bool accepted) -> std::string {  // mmap, then the vocabulary reader
        const std::string path = (dir.path / "fuzz.gguf").string();
        std::ofstream(path, std::ios::binary | std::ios::trunc)
            .write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
        try {
          const auto f = GgufFile::open(path);
          if (!accepted) return "file opened but memory parse threw";
          for (const auto& t : f->tensors())
            if (t.nbytes > 0) checksum += f->data(t)[0] + f->data(t)[t.nbytes - 1];
        } catch (const grpo::Error&) {
          if (accepted) return "memory parse accepted but file open threw";
        }
        try {
          checksum += double(read_gguf_vocab(path).tokens.size());
        } catch (const grpo::Error&) {
        } catch (const std::exception& e) {
          return std::string("unexpected exception from the vocabulary: ") + e.what();
        }
        return "";
      });
  const int n_accepted = st.accepted, n_rejected = st.rejected, n_files = st.files;
  const std::string& failure = st.failure;

  INFO("accepted " << n_accepted << ", rejected " << n_rejected << ", via files " << n_files << ", checksum "
                   << checksum);
  REQUIRE(failure == "");
  // The mutation mix must reach both outcomes, or the loop tests little.
  CHECK(n_accepted > kIterations / 20);
  CHECK(n_rejected > kIterations / 2);
  CHECK(n_files > 50);
}
