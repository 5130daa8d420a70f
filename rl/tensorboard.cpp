// TensorBoard event files; see tensorboard.h.
#include "rl/tensorboard.h"

#include <unistd.h>

#include <array>
#include <chrono>
#include <cstring>

#include "kernels/check.h"

namespace grpo::rl {

namespace {

std::array<uint32_t, 256> make_crc_table() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;  // reflected Castagnoli polynomial
    t[i] = c;
  }
  return t;
}

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

template <typename T>
void put_le(std::string& out, T v) {
  char buf[sizeof(T)];
  std::memcpy(buf, &v, sizeof(T));  // x86-64 and aarch64 are little-endian, as the format is
  out.append(buf, sizeof(T));
}

// Field key: (number << 3) | wire type (0 varint, 1 fixed64, 2 length-delimited, 5 fixed32).
void put_key(std::string& out, int field, int wire) { put_varint(out, static_cast<uint64_t>(field << 3 | wire)); }

void put_bytes(std::string& out, int field, std::string_view bytes) {
  put_key(out, field, 2);
  put_varint(out, bytes.size());
  out.append(bytes);
}

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

void flatten(const nlohmann::json& j, const std::string& prefix, std::vector<std::pair<std::string, float>>& out) {
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string tag = prefix.empty() ? it.key() : prefix + "/" + it.key();
    const auto& v = it.value();
    if (prefix.empty() && it.key() == "step") continue;
    if (v.is_object()) {
      flatten(v, tag, out);
    } else if (v.is_boolean()) {
      out.emplace_back(tag, v.get<bool>() ? 1.0f : 0.0f);
    } else if (v.is_number()) {
      out.emplace_back(tag, static_cast<float>(v.get<double>()));
    }
  }
}

}  // namespace

uint32_t crc32c(std::string_view data) {
  static const std::array<uint32_t, 256> table = make_crc_table();
  uint32_t c = 0xFFFFFFFFu;
  for (unsigned char b : data) c = table[(c ^ b) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

uint32_t masked_crc32c(std::string_view data) {
  const uint32_t c = crc32c(data);
  return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

std::string scalar_event(double wall_time, int64_t step, const std::vector<std::pair<std::string, float>>& scalars) {
  std::string summary;
  for (const auto& [tag, value] : scalars) {
    std::string v;
    put_bytes(v, 1, tag);
    put_key(v, 2, 5);
    put_le(v, value);
    put_bytes(summary, 1, v);
  }
  std::string event;
  put_key(event, 1, 1);
  put_le(event, wall_time);
  put_key(event, 2, 0);
  put_varint(event, static_cast<uint64_t>(step));
  put_bytes(event, 5, summary);
  return event;
}

std::string file_version_event(double wall_time) {
  std::string event;
  put_key(event, 1, 1);
  put_le(event, wall_time);
  put_bytes(event, 3, "brain.Event:2");
  return event;
}

std::string tf_record(std::string_view data) {
  std::string rec, len;
  put_le(len, static_cast<uint64_t>(data.size()));
  rec += len;
  put_le(rec, masked_crc32c(len));
  rec.append(data);
  put_le(rec, masked_crc32c(data));
  return rec;
}

std::vector<std::pair<std::string, float>> flatten_scalars(const nlohmann::json& record) {
  std::vector<std::pair<std::string, float>> out;
  if (record.is_object()) flatten(record, "", out);
  return out;
}

TensorBoardWriter::TensorBoardWriter(const std::string& dir) {
  const double t = now_seconds();
  char host[256] = "localhost";
  ::gethostname(host, sizeof(host) - 1);
  path_ = dir + "/events.out.tfevents." + std::to_string(static_cast<int64_t>(t)) + "." + host + "." +
          std::to_string(::getpid());
  out_.open(path_, std::ios::binary | std::ios::trunc);
  GRPO_CHECK(out_.good(), "cannot open ", path_, " for writing; hint: check the run directory's permissions");
  out_ << tf_record(file_version_event(t));
  out_.flush();
}

void TensorBoardWriter::write(const nlohmann::json& record) {
  if (!record.contains("step") || !record["step"].is_number_integer()) return;
  out_ << tf_record(scalar_event(now_seconds(), record["step"].get<int64_t>(), flatten_scalars(record)));
  out_.flush();
}

}  // namespace grpo::rl
