// Score and Verdict: the one value every verifier returns (DESIGN.md "Data that crosses folder lines").
// Plain structs only: no torch types, no I/O. Expected failures (a wrong or unparsable answer) are a
// Score, never an exception; only misuse of an API throws.
#pragma once

#include <map>
#include <string>

namespace grpo::rewards {

// Why a completion got its reward. `ok` is the only verdict that means "fully correct".
enum class Verdict {
  ok,              // the answer is correct
  wrong,           // the answer is well-formed but wrong (value, numbers used, arithmetic error)
  unparsable,      // no answer found, or it does not parse
  timeout,         // the check ran out of time (code sandbox)
  sandbox_error,   // the sandbox itself failed (not the program under test)
  invalid_input,   // the prompt's meta is malformed or names an unknown task: fix the data
  internal_error,  // a checker threw: a bug in the checker, not in the completion
};

// "ok", "wrong", "unparsable", ... (stable names for logs and samples.jsonl).
inline const char* verdict_name(Verdict v) {
  switch (v) {
    case Verdict::ok: return "ok";
    case Verdict::wrong: return "wrong";
    case Verdict::unparsable: return "unparsable";
    case Verdict::timeout: return "timeout";
    case Verdict::sandbox_error: return "sandbox_error";
    case Verdict::invalid_input: return "invalid_input";
    case Verdict::internal_error: return "internal_error";
  }
  return "unknown";
}

struct Score {
  double value = 0.0;                         // the reward
  std::map<std::string, double> components;  // named parts, e.g. {"correct": 1, "format": 1}
  Verdict verdict = Verdict::unparsable;     // why the reward is what it is
  std::string detail;                        // one human line: why
  std::string answer;                        // the answer the verifier read, normalised ("" = none): maj@k votes on it
};

// What a verifier needs from the prompt, as plain strings (e.g. {"numbers": "3,15,7", "target": "22"}).
using Meta = std::map<std::string, std::string>;

}  // namespace grpo::rewards
