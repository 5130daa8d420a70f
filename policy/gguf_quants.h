// ggml's tensor encodings decoded to float32, as ggml defines the blocks (ggml-common.h) and gguf-py's
// gguf.quants.dequantize computes them, bit for bit: F32, F16, BF16, Q8_0 (f16 d, 32 int8: x = q d), Q4_0 (f16 d, 16
// bytes of nibbles: x = (q - 8) d) and Q4_1 (f16 d, f16 m, 16 bytes: x = q d + m); in the 4-bit blocks the low nibbles
// are elements 0..15 and the high nibbles 16..31. Torch-free; the K-quants and i-quants are not implemented.
#pragma once

#include <cstdint>
#include <string>

namespace grpo::policy {

// Whether dequantize_row reads ggml type `type`.
bool can_dequantize(uint32_t type);
// Decodes `n` elements (a multiple of the type's block size) from `src` (n / block_size * type_size bytes) into
// `dst`. Throws naming `tensor` and the type for a type can_dequantize() refuses.
void dequantize_row(uint32_t type, const uint8_t* src, float* dst, int64_t n, const std::string& tensor);

// IEEE half and bfloat16 bits -> float32, exactly (subnormals, infinities and NaN payloads kept).
float half_to_float(uint16_t h);
float bf16_to_float(uint16_t h);

}  // namespace grpo::policy
