// Unicode helpers for the tokenizers: UTF-8 repair (invalid bytes -> U+FFFD, as Python's errors="replace"),
// NFC through utf8proc, Unicode whitespace, and GPT-2's byte <-> printable-character map of byte-level BPE.
// Not a Unicode library: it wraps utf8proc for everything that needs tables.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace grpo::policy {

// Returns `in` itself when it is valid UTF-8; otherwise fills `storage` with a copy in which every maximal
// ill-formed subsequence (Unicode 3.9 "maximal subpart", what CPython's decoder does) became U+FFFD.
std::string_view repair_utf8(std::string_view in, std::string& storage);

// Returns `in` when it is already NFC (fast path: no code point >= U+0300); otherwise `storage` holds the
// NFC form. REQUIRES: valid UTF-8.
std::string_view to_nfc(std::string_view in, std::string& storage);

// Decodes the code point at s[i] (valid UTF-8) and advances i.
uint32_t next_code_point(std::string_view s, size_t& i);
void append_utf8(std::string& out, uint32_t cp);

// Oniguruma's Unicode \s: U+0009..U+000D, U+0085 and the separators Zs, Zl, Zp.
bool is_unicode_space(uint32_t cp);

// Byte-level BPE (GPT-2 `bytes_to_unicode`): bytes 0x21-0x7E, 0xA1-0xAC, 0xAE-0xFF stand for themselves, the
// other 68 map to U+0100 + n in increasing order (space -> U+0120 'Ġ', '\n' -> U+010A 'Ċ').
const std::array<uint32_t, 256>& byte_to_code_point();
// Inverse: code point -> byte, or -1 if the code point is not one of the 256.
int code_point_to_byte(uint32_t cp);
// The byte-level form of raw bytes ("a b" -> "aĠb").
std::string bytes_to_byte_level(std::string_view raw);

}  // namespace grpo::policy
