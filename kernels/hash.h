// splitmix64 finaliser: the counter-based hash behind every random stream (sampling uniforms, data order,
// the held-out split). Header-only and host/device-agnostic so a CUDA sampler can draw the same numbers.
#pragma once

#include <cstdint>

namespace grpo {

#if defined(__CUDACC__)
__host__ __device__
#endif
inline uint64_t mix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace grpo
