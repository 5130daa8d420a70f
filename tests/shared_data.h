// The public data some tests read (tokenizer vectors and vocabularies, GSM8K/MATH/AIME/AMC, HumanEval): the
// directory in $GRPO_SHARED_DATA, else ../shared/data beside the checkout (the build's default). A user's clone has
// no ../shared: those tests then skip with one line saying what they need, and scripts/test counts them.
// Tests that read it carry the [shared] tag.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

namespace grpo::test {

inline std::string shared_data_dir() {
  const char* env = std::getenv("GRPO_SHARED_DATA");
  return env != nullptr && *env != '\0' ? std::string(env) : std::string(GRPO_SHARED_DATA);
}

inline std::string shared_data_path(const std::string& rel) { return shared_data_dir() + "/" + rel; }

inline bool have_shared_data(const std::string& rel) { return std::filesystem::exists(shared_data_path(rel)); }

// The checkout's root, where the committed fixtures are (tests/fixtures/...): $GRPO_SOURCE_DIR, else the source tree
// the tests were built from. A test bundle run on another machine (scripts/gpu-bundle) sets it.
inline std::string source_path(const std::string& rel) {
  const char* env = std::getenv("GRPO_SOURCE_DIR");
  return (env != nullptr && *env != '\0' ? std::string(env) : std::string(GRPO_SOURCE_DIR)) + "/" + rel;
}

// A directory tests may write scratch files into: $GRPO_BINARY_DIR, else the build directory.
inline std::string binary_dir() {
  const char* env = std::getenv("GRPO_BINARY_DIR");
  return env != nullptr && *env != '\0' ? std::string(env) : std::string(GRPO_BINARY_DIR);
}

}  // namespace grpo::test

// First statement of a [shared] test: without the data, one warning line and the test ends (passing, as Catch2 v2
// has no skip).
#define GRPO_NEED_SHARED_DATA(rel)                                                                          \
  do {                                                                                                      \
    if (!::grpo::test::have_shared_data(rel)) {                                                             \
      WARN("SKIPPED: needs " << ::grpo::test::shared_data_path(rel)                                         \
                             << " (public test data); set GRPO_SHARED_DATA to the shared/data directory"); \
      return;                                                                                               \
    }                                                                                                       \
  } while (0)
