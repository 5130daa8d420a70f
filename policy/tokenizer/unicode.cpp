// UTF-8 repair, NFC (utf8proc), whitespace and the byte-level map. See unicode.h.
#include "policy/tokenizer/unicode.h"

#include <utf8proc.h>

#include <cstdlib>
#include <memory>

#include "kernels/check.h"

namespace grpo::policy {
namespace {

constexpr const char* kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// Length of the well-formed sequence starting at s[i], or 0 when it is ill-formed; on 0, `consumed` is the
// length of the maximal subpart (at least 1) that one U+FFFD replaces.
size_t well_formed_length(std::string_view s, size_t i, size_t& consumed) {
  const auto b = static_cast<unsigned char>(s[i]);
  size_t len = 0;
  unsigned lo = 0x80, hi = 0xBF;  // range of the second byte (Unicode table 3-7)
  if (b < 0x80) return consumed = 1;
  if (b >= 0xC2 && b <= 0xDF) len = 2;
  else if (b == 0xE0) len = 3, lo = 0xA0;
  else if ((b >= 0xE1 && b <= 0xEC) || b == 0xEE || b == 0xEF) len = 3;
  else if (b == 0xED) len = 3, hi = 0x9F;
  else if (b == 0xF0) len = 4, lo = 0x90;
  else if (b >= 0xF1 && b <= 0xF3) len = 4;
  else if (b == 0xF4) len = 4, hi = 0x8F;
  else return (consumed = 1), 0;
  size_t j = i + 1;
  for (size_t k = 1; k < len; ++k, ++j) {
    const unsigned lo_k = k == 1 ? lo : 0x80, hi_k = k == 1 ? hi : 0xBF;
    if (j >= s.size()) return (consumed = j - i), 0;
    const auto c = static_cast<unsigned char>(s[j]);
    if (c < lo_k || c > hi_k) return (consumed = j - i), 0;
  }
  return consumed = len;
}

}  // namespace

std::string_view repair_utf8(std::string_view in, std::string& storage) {
  size_t i = 0, consumed = 0;
  while (i < in.size()) {
    if (static_cast<unsigned char>(in[i]) < 0x80) {
      ++i;
      continue;
    }
    if (well_formed_length(in, i, consumed) == 0) break;
    i += consumed;
  }
  if (i == in.size()) return in;
  storage.assign(in.substr(0, i));
  while (i < in.size()) {
    if (well_formed_length(in, i, consumed) == 0) storage += kReplacement;
    else storage.append(in.substr(i, consumed));
    i += consumed;
  }
  return storage;
}

std::string_view to_nfc(std::string_view in, std::string& storage) {
  // NOTE: every code point below U+0300 is NFC_Quick_Check=Yes and none composes with a preceding one, so
  // text without a lead byte >= 0xCC (U+0300 and up) is already NFC. This keeps ASCII and Latin-1 fast.
  bool simple = true;
  for (char c : in) {
    if (static_cast<unsigned char>(c) >= 0xCC) {  // continuation bytes are 0x80..0xBF
      simple = false;
      break;
    }
  }
  if (simple) return in;
  utf8proc_uint8_t* out = nullptr;
  const utf8proc_ssize_t n =
      utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(in.data()), static_cast<utf8proc_ssize_t>(in.size()),
                   &out, static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  GRPO_CHECK(n >= 0, "NFC normalisation failed: ", utf8proc_errmsg(n));
  std::unique_ptr<utf8proc_uint8_t, decltype(&std::free)> hold(out, &std::free);
  storage.assign(reinterpret_cast<const char*>(out), static_cast<size_t>(n));
  return storage;
}

uint32_t next_code_point(std::string_view s, size_t& i) {
  const auto b = static_cast<unsigned char>(s[i]);
  if (b < 0x80) {
    ++i;
    return b;
  }
  const size_t len = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : 2;
  uint32_t cp = b & (len == 2 ? 0x1F : len == 3 ? 0x0F : 0x07);
  for (size_t k = 1; k < len && i + k < s.size(); ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  i += len;
  return cp;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

bool is_unicode_space(uint32_t cp) {
  if (cp == ' ' || (cp >= 0x09 && cp <= 0x0D) || cp == 0x85) return true;
  if (cp < 0xA0) return false;
  const utf8proc_category_t c = utf8proc_category(static_cast<utf8proc_int32_t>(cp));
  return c == UTF8PROC_CATEGORY_ZS || c == UTF8PROC_CATEGORY_ZL || c == UTF8PROC_CATEGORY_ZP;
}

const std::array<uint32_t, 256>& byte_to_code_point() {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    uint32_t n = 0;
    for (uint32_t b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      t[b] = printable ? b : 0x100 + n++;
    }
    return t;
  }();
  return table;
}

int code_point_to_byte(uint32_t cp) {
  static const std::array<int16_t, 0x200> inverse = [] {
    std::array<int16_t, 0x200> t;
    t.fill(-1);
    const auto& fwd = byte_to_code_point();
    for (int b = 0; b < 256; ++b) t[fwd[static_cast<size_t>(b)]] = static_cast<int16_t>(b);
    return t;
  }();
  return cp < inverse.size() ? inverse[cp] : -1;
}

std::string bytes_to_byte_level(std::string_view raw) {
  std::string out;
  out.reserve(raw.size() * 2);
  const auto& map = byte_to_code_point();
  for (char c : raw) append_utf8(out, map[static_cast<unsigned char>(c)]);
  return out;
}

}  // namespace grpo::policy
