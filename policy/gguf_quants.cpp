// Dequantization of F32, F16, BF16, Q8_0, Q4_0 and Q4_1 blocks. See gguf_quants.h.
// NOTE: every product below (an 11-bit half mantissa times an integer of at most 8 bits) is exact in float32, so
// Q4_1's q d + m rounds once whether or not the compiler fuses it into an FMA: the result is gguf-py's bit for bit.
#include "policy/gguf_quants.h"

#include <cstring>

#include "kernels/check.h"
#include "policy/gguf.h"

namespace grpo::policy {
namespace {

uint16_t u16(const uint8_t* p) { return uint16_t(p[0] | (p[1] << 8)); }  // little-endian, any alignment

constexpr int kBlock = 32;                      // Q8_0, Q4_0, Q4_1: elements per block
constexpr int kQ8_0Bytes = 2 + kBlock;          // f16 d, int8 q[32]
constexpr int kQ4_0Bytes = 2 + kBlock / 2;      // f16 d, uint8 qs[16]
constexpr int kQ4_1Bytes = 2 + 2 + kBlock / 2;  // f16 d, f16 m, uint8 qs[16]

}  // namespace

float half_to_float(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu, bits;
  if (exp == 0x1fu) {
    bits = sign | 0x7f800000u | (mant << 13);  // infinity or NaN (payload kept)
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (mant << 13);  // normal: rebias 15 -> 127
  } else if (mant == 0) {
    bits = sign;  // signed zero
  } else {
    // Subnormal: mant * 2^-24; shift the leading one up to the implicit bit.
    int e = 113;
    while ((mant & 0x400u) == 0) {
      mant <<= 1;
      --e;
    }
    bits = sign | (uint32_t(e) << 23) | ((mant & 0x3ffu) << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

float bf16_to_float(uint16_t h) {
  const uint32_t bits = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

bool can_dequantize(uint32_t type) {
  switch (type) {
    case kGgmlF32: case kGgmlF16: case kGgmlBF16: case kGgmlQ8_0: case kGgmlQ4_0: case kGgmlQ4_1: return true;
    default: return false;
  }
}

void dequantize_row(uint32_t type, const uint8_t* src, float* dst, int64_t n, const std::string& tensor) {
  const GgmlTypeInfo* info = ggml_type_info(type);
  GRPO_CHECK(can_dequantize(type), "tensor '", tensor, "' has type ", info ? info->name : "unknown", " (", type,
             "), which grpo cannot dequantize; hint: F32, F16, BF16, Q8_0, Q4_0 and Q4_1 are read (re-quantize the "
             "model to one of them with llama-quantize, or convert from the Hugging Face checkpoint)");
  GRPO_CHECK(n >= 0 && n % info->block_size == 0, "tensor '", tensor, "': ", n, " elements are not whole ",
             info->name, " blocks");
  switch (type) {
    case kGgmlF32:
      std::memcpy(dst, src, size_t(n) * 4);
      break;
    case kGgmlF16:
      for (int64_t i = 0; i < n; ++i) dst[i] = half_to_float(u16(src + 2 * i));
      break;
    case kGgmlBF16:
      for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_float(u16(src + 2 * i));
      break;
    case kGgmlQ8_0:
      for (int64_t b = 0; b < n / kBlock; ++b, src += kQ8_0Bytes, dst += kBlock) {
        const float d = half_to_float(u16(src));
        for (int j = 0; j < kBlock; ++j) dst[j] = float(int8_t(src[2 + j])) * d;
      }
      break;
    case kGgmlQ4_0:
      for (int64_t b = 0; b < n / kBlock; ++b, src += kQ4_0Bytes, dst += kBlock) {
        const float d = half_to_float(u16(src));
        for (int j = 0; j < kBlock / 2; ++j) {
          dst[j] = float(int(src[2 + j] & 0x0f) - 8) * d;
          dst[j + kBlock / 2] = float(int(src[2 + j] >> 4) - 8) * d;
        }
      }
      break;
    case kGgmlQ4_1:
      for (int64_t b = 0; b < n / kBlock; ++b, src += kQ4_1Bytes, dst += kBlock) {
        const float d = half_to_float(u16(src)), m = half_to_float(u16(src + 2));
        for (int j = 0; j < kBlock / 2; ++j) {
          dst[j] = float(src[4 + j] & 0x0f) * d + m;
          dst[j + kBlock / 2] = float(src[4 + j] >> 4) * d + m;
        }
      }
      break;
  }
}

}  // namespace grpo::policy
