// Flag parsing shared by the subcommands that take --flags instead of a recipe (info, convert, tokenize, reward,
// generate, init).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
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
  // The value of --k as an integer >= `min` (`fallback` when absent); anything else stops naming the flag.
  int64_t get_integer(const std::string& k, int64_t fallback, const char* cmd, int64_t min = 0) const {
    if (!has(k)) return fallback;
    const std::string v = get(k);
    size_t used = 0;
    int64_t n = 0;
    try {
      n = std::stoll(v, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    GRPO_CHECK(used == v.size() && !v.empty() && n >= min, "grpo ", cmd, ": ", k, " needs ",
               min == 1 ? "a positive count" : "an integer >= " + std::to_string(min), ", got '", v, "'");
    return n;
  }
  // The value of --k as a count >= 1.
  int64_t get_count(const std::string& k, int64_t fallback, const char* cmd) const {
    return get_integer(k, fallback, cmd, 1);
  }
  // The value of --k as a number (`fallback` when absent).
  double get_number(const std::string& k, double fallback, const char* cmd) const {
    if (!has(k)) return fallback;
    const std::string v = get(k);
    size_t used = 0;
    double d = 0;
    try {
      d = std::stod(v, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    GRPO_CHECK(used == v.size() && !v.empty(), "grpo ", cmd, ": ", k, " needs a number, got '", v, "'");
    return d;
  }
};

// -h or --help anywhere prints "usage: <usage>" (and `details`, when given) on stdout and exits with status 0.
inline Args parse_args(int argc, char** argv, const char* cmd, const std::vector<std::string>& with_value,
                       const std::vector<std::string>& switches, const char* usage, const char* details = nullptr) {
  for (int i = 0; i < argc; ++i) {
    const std::string k = argv[i];
    if (k == "-h" || k == "--help") {
      std::printf("usage: %s\n%s", usage, details ? details : "");
      std::fflush(stdout);
      std::exit(0);
    }
  }
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
