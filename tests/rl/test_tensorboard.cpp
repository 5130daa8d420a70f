// TensorBoard event files: CRC-32C's check value, the masked CRC and the protobuf bytes of an Event against values
// worked out by hand from the format, and a written file read back record by record with its CRCs.
#include <catch2/catch.hpp>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "rl/tensorboard.h"
#include "tests/temp_dir.h"

using namespace grpo::rl;

TEST_CASE("CRC-32C check value and TensorFlow's masking", "[cpu]") {
  CHECK(crc32c("123456789") == 0xE3069283u);  // the standard check value of CRC-32C
  CHECK(crc32c("") == 0u);
  const uint32_t c = 0xE3069283u;
  CHECK(masked_crc32c("123456789") == static_cast<uint32_t>(((c >> 15) | (c << 17)) + 0xa282ead8u));
}

TEST_CASE("an Event's protobuf bytes, field by field", "[cpu]") {
  std::string e = scalar_event(1.5, 300, {{"loss", 0.25f}});
  // wall_time: key 0x09, double 1.5 = 0x3FF8000000000000 little-endian
  std::string want = "\x09" + std::string("\x00\x00\x00\x00\x00\x00\xf8\x3f", 8);
  // step: key 0x10, varint 300 = 0xAC 0x02
  want += std::string("\x10\xac\x02", 3);
  // summary (field 5, 0x2A) { value (0x0A) { tag (0x0A) "loss", simple_value (0x15) float 0.25 = 0x3E800000 } }
  std::string value = std::string("\x0a\x04loss\x15", 7) + std::string("\x00\x00\x80\x3e", 4);
  std::string summary = std::string("\x0a", 1) + static_cast<char>(value.size()) + value;
  want += std::string("\x2a", 1) + static_cast<char>(summary.size()) + summary;
  CHECK(e == want);
  CHECK(file_version_event(0.0) == std::string("\x09\0\0\0\0\0\0\0\0\x1a\x0d" "brain.Event:2", 24));
}

TEST_CASE("metrics records flatten to scalars, and a written file reads back with valid CRCs", "[cpu]") {
  nlohmann::json rec = {{"step", 7}, {"reward_mean", 0.5}, {"update_skipped", true}, {"skip_reason", "x"},
                        {"time", {{"generate", 1.25}}}, {"ids", {1, 2}}};
  auto s = flatten_scalars(rec);
  REQUIRE(s.size() == 3);
  CHECK(s[0].first == "reward_mean");
  CHECK(s[1].first == "time/generate");
  CHECK(s[1].second == 1.25f);
  CHECK(s[2] == std::pair<std::string, float>("update_skipped", 1.0f));

  grpo::test::TempDir dir;
  std::string path;
  {
    TensorBoardWriter w(dir.path.string());
    w.write(rec);
    w.write({{"step", 8}, {"reward_mean", 0.75}});
    path = w.path();
  }
  CHECK(std::filesystem::path(path).filename().string().rfind("events.out.tfevents.", 0) == 0);
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t pos = 0;
  int records = 0;
  while (pos < bytes.size()) {
    REQUIRE(pos + 12 <= bytes.size());
    uint64_t len;
    uint32_t len_crc, data_crc;
    std::memcpy(&len, bytes.data() + pos, 8);
    std::memcpy(&len_crc, bytes.data() + pos + 8, 4);
    CHECK(len_crc == masked_crc32c(std::string_view(bytes.data() + pos, 8)));
    REQUIRE(pos + 12 + len + 4 <= bytes.size());
    std::memcpy(&data_crc, bytes.data() + pos + 12 + len, 4);
    CHECK(data_crc == masked_crc32c(std::string_view(bytes.data() + pos + 12, len)));
    pos += 12 + len + 4;
    ++records;
  }
  CHECK(records == 3);  // the file version, then two steps
}
