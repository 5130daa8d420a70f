// Flag parsing shared by the subcommands that take --flags instead of a recipe (info, convert, tokenize).
#pragma once

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "kernels/check.h"

namespace grpo::recipes {

// --flag VALUE pairs and bare --switches; anything else stops naming it.
struct Args {
  std::map<std::string, std::string> values;
  bool has(const std::string& k) const { return values.count(k) > 0; }
  std::string get(const std::string& k, const std::string& fallback = "") const {
    auto it = values.find(k);
    return it == values.end() ? fallback : it->second;
  }
};

inline Args parse_args(int argc, char** argv, const char* cmd, const std::vector<std::string>& with_value,
                const std::vector<std::string>& switches, const char* usage) {
  Args a;
  for (int i = 0; i < argc; ++i) {
    const std::string k = argv[i];
    if (std::find(switches.begin(), switches.end(), k) != switches.end()) {
      a.values[k] = "1";
    } else if (std::find(with_value.begin(), with_value.end(), k) != with_value.end()) {
      GRPO_CHECK(i + 1 < argc, "grpo ", cmd, ": ", k, " needs a value; usage: ", usage);
      a.values[k] = argv[++i];
    } else {
      GRPO_FAIL("grpo ", cmd, ": unknown argument '", k, "'; usage: ", usage);
    }
  }
  return a;
}

}  // namespace grpo::recipes
