// The seeded mutation loop shared by the file-format fuzz tests (safetensors, GGUF): each iteration mutates a copy
// of a valid seed file, parses it from an exact-size heap buffer (so ASan catches a read one past the end), and
// sorts the outcome: accepted (then `parse` checks what it accepted), rejected with one grpo::Error line naming the
// file, or a failure (any other exception, a multi-line or anonymous error). Every `file_every` iterations the same
// bytes also go through a real file (`through_file`). Not a coverage-guided fuzzer.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "kernels/check.h"

namespace grpo::test {

using Bytes = std::vector<uint8_t>;

struct FuzzStats {
  int accepted = 0, rejected = 0, files = 0;
  std::string failure;  // the first failure, with its iteration ("" when none)
};

// mutate(Bytes&, std::mt19937_64&); parse(const Bytes&) -> "" or what is wrong with what it accepted (throws
// grpo::Error to reject); through_file(const Bytes&, bool accepted) -> "" or a failure.
template <typename Mutate, typename Parse, typename ThroughFile>
FuzzStats run_fuzz_loop(const std::vector<Bytes>& seeds, uint64_t rng_seed, int iterations, int file_every,
                        const std::string& label, Mutate&& mutate, Parse&& parse, ThroughFile&& through_file) {
  std::mt19937_64 rng(rng_seed);
  FuzzStats st;
  for (int iter = 0; iter < iterations && st.failure.empty(); ++iter) {
    Bytes b = seeds[rng() % seeds.size()];
    for (uint64_t k = 1 + rng() % 4; k > 0; --k) mutate(b, rng);
    const Bytes exact(b.begin(), b.end());  // exact size: ASan sees a read one past the end
    const std::string at = "iteration " + std::to_string(iter) + ": ";
    bool accepted = false;
    try {
      const std::string bad = parse(exact);
      if (!bad.empty()) st.failure = at + "accepted but " + bad;
      accepted = true;
      ++st.accepted;
    } catch (const grpo::Error& e) {
      const std::string msg = e.what();
      if (msg.find(label) == std::string::npos || msg.find('\n') != std::string::npos)
        st.failure = at + "error is not one line naming " + label + ": " + msg;
      ++st.rejected;
    } catch (const std::exception& e) {
      st.failure = at + "unexpected exception: " + e.what();
    } catch (...) {
      st.failure = at + "unexpected non-std exception";
    }
    if (iter % file_every == 0 && st.failure.empty()) {
      ++st.files;
      const std::string bad = through_file(b, accepted);
      if (!bad.empty()) st.failure = at + bad;
    }
  }
  return st;
}

}  // namespace grpo::test
