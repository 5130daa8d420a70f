// Seeded mutation fuzzing of the safetensors reader: valid files, randomly corrupted, must either open with every
// tensor inside the data buffer or throw grpo::Error; any other exception, or a crash, fails.
// Not a coverage-guided fuzzer; build with -DGRPO_SANITIZE=ON to also catch out-of-bounds reads.
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "kernels/check.h"
#include "policy/safetensors.h"
#include "tests/fuzz_loop.h"

namespace fs = std::filesystem;
using namespace grpo::policy;
using grpo::test::Bytes;

namespace {

constexpr int kIterations = 100'000;
constexpr int kFileEvery = 997;  // every this many iterations, also go through a real file and mmap

Bytes read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_file(const std::string& path, const Bytes& b) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
}

Bytes raw_file(const std::string& header, const std::string& data) {
  Bytes out(8);
  for (int i = 0; i < 8; ++i) out[i] = uint8_t(uint64_t(header.size()) >> (8 * i));
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

uint64_t header_length(const Bytes& b) {
  uint64_t n = 0;
  for (int i = 0; i < 8 && i < int(b.size()); ++i) n |= uint64_t(b[i]) << (8 * i);
  return n;
}

void set_header_length(Bytes& b, uint64_t n) {
  if (b.size() < 8) return;
  for (int i = 0; i < 8; ++i) b[i] = uint8_t(n >> (8 * i));
}

// Valid seed files: written by write_safetensors (several dtypes, scalar, empty tensor, metadata), plus a
// hand-made unpadded one and an empty-body one.
std::vector<Bytes> make_seeds(const fs::path& dir) {
  std::vector<Bytes> seeds;
  std::vector<uint8_t> buf(256);
  for (size_t i = 0; i < buf.size(); ++i) buf[i] = uint8_t(i * 13);
  const std::string a = (dir / "a.safetensors").string();
  write_safetensors(a, {{"model.embed_tokens.weight", DType::BF16, {4, 3}, buf.data(), 24},
                        {"model.norm.weight", DType::F32, {3}, buf.data(), 12},
                        {"scalar", DType::I64, {}, buf.data(), 8},
                        {"empty", DType::F16, {0, 7}, nullptr, 0},
                        {"mask", DType::BOOL, {5}, buf.data(), 5}});
  seeds.push_back(read_file(a));
  const std::string b = (dir / "b.safetensors").string();
  write_safetensors(b, {{"w", DType::F8_E4M3, {2, 2, 2}, buf.data(), 8}}, {{"format", "pt"}, {"k", "v"}});
  seeds.push_back(read_file(b));
  const std::string c = (dir / "c.safetensors").string();
  write_safetensors(c, {}, {});
  seeds.push_back(read_file(c));
  seeds.push_back(raw_file(
      R"({"x":{"dtype":"U16","shape":[2],"data_offsets":[2,6]},"y":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}})",
      "abcdef"));
  return seeds;
}

const char* const kTokens[] = {
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\"",
    " ",
    "-",
    "0",
    "1",
    "-1",
    "1.5",
    "1e400",
    "null",
    "true",
    "[]",
    "{}",
    "18446744073709551615",
    "18446744073709551616",
    "9223372036854775807",
    "9223372036854775808",
    "4294967296",
    "2305843009213693952",
    "\"dtype\"",
    "\"shape\"",
    "\"data_offsets\"",
    "\"__metadata__\"",
    "\"F32\"",
    "\"F64\"",
    "\"F4\"",
    "[0,0]",
    "\"w\":{}",
    "\\u0000",
    "\\ud800",
    "\xff",
    "\xc3",
    "\0",
};

// One random edit. Edits that insert into or delete from the header fix up the length prefix half of the time, so
// the JSON framing stays intact and the deeper checks get exercised.
void mutate(Bytes& b, std::mt19937_64& rng) {
  auto pick = [&](uint64_t n) { return n == 0 ? uint64_t(0) : rng() % n; };
  const uint64_t n = header_length(b);
  const bool header_ok = b.size() >= 8 && n <= b.size() - 8 && n > 0;
  // A position, biased toward the header when the header is intact.
  auto position = [&]() -> size_t {
    if (header_ok && pick(10) < 8) return size_t(8 + pick(n));
    return size_t(pick(b.size()));
  };
  auto fix_length = [&](int64_t delta) {
    if (header_ok && pick(2) == 0) set_header_length(b, uint64_t(int64_t(n) + delta));
  };
  switch (pick(9)) {
    case 0:  // bit flip
      if (!b.empty()) b[position()] ^= uint8_t(1u << pick(8));
      break;
    case 1:  // random byte
      if (!b.empty()) b[position()] = uint8_t(rng());
      break;
    case 2: {  // insert a token or random bytes
      const size_t at = b.empty() ? 0 : position();
      std::string ins;
      if (pick(2) == 0) {
        const char* tok = kTokens[pick(sizeof(kTokens) / sizeof(kTokens[0]))];
        ins = *tok ? std::string(tok) : std::string(1, '\0');
      } else {
        for (uint64_t i = 0, k = 1 + pick(8); i < k; ++i) ins.push_back(char(rng()));
      }
      const bool in_header = header_ok && at >= 8 && at <= 8 + n;
      b.insert(b.begin() + std::ptrdiff_t(at), ins.begin(), ins.end());
      if (in_header) fix_length(int64_t(ins.size()));
      break;
    }
    case 3: {  // delete a range
      if (b.empty()) break;
      const size_t at = position();
      const size_t len = std::min<size_t>(1 + pick(16), b.size() - at);
      const bool in_header = header_ok && at >= 8 && at + len <= 8 + n;
      b.erase(b.begin() + std::ptrdiff_t(at), b.begin() + std::ptrdiff_t(at + len));
      if (in_header) fix_length(-int64_t(len));
      break;
    }
    case 4:  // truncate
      b.resize(size_t(pick(b.size() + 1)));
      break;
    case 5: {  // change the header length
      const uint64_t choices[] = {n + 1 + pick(8),        n - 1 - pick(8), 0, 1, 100'000'000, 100'000'001, ~0ull,
                                  uint64_t(b.size()) - 8, uint64_t(rng())};
      set_header_length(b, choices[pick(sizeof(choices) / sizeof(choices[0]))]);
      break;
    }
    case 6: {  // replace a number in the header by an interesting one (offsets, dims)
      if (!header_ok) break;
      size_t at = size_t(8 + pick(n));
      while (at < 8 + n && !(b[at] >= '0' && b[at] <= '9')) ++at;
      if (at >= 8 + n) break;
      size_t end = at;
      while (end < 8 + n && b[end] >= '0' && b[end] <= '9') ++end;
      const char* const nums[] = {"0",
                                  "1",
                                  "2",
                                  "3",
                                  "4",
                                  "6",
                                  "8",
                                  "12",
                                  "24",
                                  "255",
                                  "4294967296",
                                  "18446744073709551615",
                                  "9223372036854775807",
                                  "2305843009213693952"};
      std::string num = pick(4) == 0 ? std::to_string(pick(64)) : nums[pick(sizeof(nums) / sizeof(nums[0]))];
      b.erase(b.begin() + std::ptrdiff_t(at), b.begin() + std::ptrdiff_t(end));
      b.insert(b.begin() + std::ptrdiff_t(at), num.begin(), num.end());
      set_header_length(b, n - (end - at) + num.size());
      break;
    }
    case 7: {  // append bytes after the data
      for (uint64_t i = 0, k = 1 + pick(8); i < k; ++i) b.push_back(uint8_t(rng()));
      break;
    }
    default: {  // duplicate a header slice in place (duplicate keys, repeated entries)
      if (!header_ok || n < 4) break;
      const size_t from = size_t(8 + pick(n)), len = std::min<size_t>(1 + pick(64), 8 + n - from);
      const Bytes slice(b.begin() + std::ptrdiff_t(from), b.begin() + std::ptrdiff_t(from + len));
      const size_t at = size_t(8 + pick(n));
      b.insert(b.begin() + std::ptrdiff_t(at), slice.begin(), slice.end());
      set_header_length(b, n + len);
      break;
    }
  }
}

// The promise of an accepted header: the buffer is fully accounted for and every tensor lies inside it.
std::string check_accepted(const SafetensorsHeader& h, const uint8_t* data, size_t size, uint64_t* checksum) {
  if (h.data_start < 8 || h.data_start > size || h.data_start + h.data_size != size) return "data buffer bounds";
  for (const auto& t : h.tensors) {
    if (t.begin > t.end || t.end > h.data_size) return "tensor \"" + t.name + "\" outside the buffer";
    int64_t numel = 1;
    for (int64_t d : t.shape) {
      if (d < 0) return "negative dim in \"" + t.name + "\"";
      numel *= d;
    }
    if (t.numel() != numel || t.end - t.begin != uint64_t(numel) * dtype_size(t.dtype))
      return "size mismatch in \"" + t.name + "\"";
    if (t.end > t.begin) *checksum += data[h.data_start + t.begin] + data[h.data_start + t.end - 1];
  }
  return "";
}

}  // namespace

TEST_CASE("safetensors reader survives 100k random mutations", "[cpu][fuzz]") {
  const fs::path dir = fs::temp_directory_path() / ("grpo_test_st_fuzz_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const auto seeds = make_seeds(dir);
  for (const auto& s : seeds) REQUIRE_NOTHROW(parse_header(s.data(), s.size(), "seed"));

  uint64_t checksum = 0;
  const grpo::test::FuzzStats st = grpo::test::run_fuzz_loop(
      seeds, 0x5afe7e45ull, kIterations, kFileEvery, "fuzz", mutate,
      [&](const Bytes& exact) {
        const auto h = parse_header(exact.data(), exact.size(), "fuzz");
        return check_accepted(h, exact.data(), exact.size(), &checksum);
      },
      [&](const Bytes& b, bool accepted) -> std::string {  // a real file and mmap
        const std::string path = (dir / "fuzz.safetensors").string();
        write_file(path, b);
        try {
          auto f = SafetensorsFile::open(path);
          if (!accepted) return "file opened but memory parse threw";
          for (const auto& t : f->tensors())
            if (t.end > t.begin) checksum += f->data(t)[0] + f->data(t)[t.nbytes() - 1];
        } catch (const grpo::Error&) {
          if (accepted) return "memory parse accepted but file open threw";
        } catch (const std::exception& e) {
          return std::string("unexpected exception from open: ") + e.what();
        }
        return "";
      });
  const int n_accepted = st.accepted, n_rejected = st.rejected, n_files = st.files;
  const std::string& failure = st.failure;
  fs::remove_all(dir);

  INFO("accepted " << n_accepted << ", rejected " << n_rejected << ", via files " << n_files << ", checksum "
                   << checksum);
  REQUIRE(failure == "");
  // The mutation mix must reach both outcomes, or the loop tests little.
  CHECK(n_accepted > kIterations / 50);
  CHECK(n_rejected > kIterations / 2);
  CHECK(n_files > 50);
}
