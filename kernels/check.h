// Error checks shared by every folder: GRPO_CHECK throws grpo::Error with file:line and a message.
// Broken invariants and bad input throw; expected failures (a wrong answer, a timeout) are values.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace grpo {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {
inline void concat_into(std::ostringstream&) {}
template <typename T, typename... Rest>
void concat_into(std::ostringstream& os, const T& first, const Rest&... rest) {
  os << first;
  concat_into(os, rest...);
}
}  // namespace detail

// Builds a string from any streamable parts: str("layer ", i, " has ", n, " experts").
template <typename... Parts>
std::string str(const Parts&... parts) {
  std::ostringstream os;
  detail::concat_into(os, parts...);
  return os.str();
}

[[noreturn]] inline void throw_error(const char* file, int line, const std::string& msg) {
  std::string where(file);
  auto slash = where.find_last_of('/');
  if (slash != std::string::npos) where = where.substr(slash + 1);
  throw Error(msg + " [" + where + ":" + std::to_string(line) + "]");
}

}  // namespace grpo

// GRPO_CHECK(cond, parts...): throws grpo::Error("parts... [file.cpp:123]") when cond is false.
#define GRPO_CHECK(cond, ...)                                                 \
  do {                                                                        \
    if (!(cond)) ::grpo::throw_error(__FILE__, __LINE__, ::grpo::str(__VA_ARGS__)); \
  } while (0)

// GRPO_FAIL(parts...): throws unconditionally.
#define GRPO_FAIL(...) ::grpo::throw_error(__FILE__, __LINE__, ::grpo::str(__VA_ARGS__))
