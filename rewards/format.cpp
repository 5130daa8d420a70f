// The format reward and the overlong penalty. See format.h.
#include "rewards/format.h"

#include <cctype>
#include <string>

#include "kernels/check.h"

namespace grpo::rewards {
namespace {

size_t count(std::string_view s, std::string_view what) {
  size_t n = 0;
  for (size_t p = s.find(what); p != std::string_view::npos; p = s.find(what, p + what.size())) ++n;
  return n;
}

bool blank(std::string_view s) {
  for (char c : s)
    if (!std::isspace(static_cast<unsigned char>(c))) return false;
  return true;
}

Score shape(bool ok, std::string detail) {
  Score s;
  s.value = ok ? 1.0 : 0.0;
  s.verdict = ok ? Verdict::ok : Verdict::unparsable;
  s.detail = std::move(detail);
  s.components["format"] = s.value;
  return s;
}

}  // namespace

Score score_format(std::string_view c, const FormatConfig& cfg) {
  size_t after_think = 0;
  if (cfg.require_think) {
    // A generation prompt may already have opened <think> (DeepSeek-R1's template): accept a missing opener.
    const size_t n_open = count(c, "<think>"), n_close = count(c, "</think>");
    if (n_close != 1 || n_open > 1) return shape(false, "want exactly one <think>…</think> block");
    const size_t close = c.find("</think>");
    if (n_open == 1 && (c.find("<think>") > close || !blank(c.substr(0, c.find("<think>")))))
      return shape(false, "<think> must open the completion, before </think>");
    after_think = close + 8;
  }
  const std::string_view rest = c.substr(after_think);
  const size_t n_open = count(rest, "<answer>"), n_close = count(rest, "</answer>");
  if (n_open == 1 && n_close == 1) {
    const size_t open = rest.find("<answer>"), close = rest.find("</answer>");
    if (close < open) return shape(false, "</answer> before <answer>");
    if (blank(rest.substr(open + 8, close - open - 8))) return shape(false, "empty <answer>");
    if (!blank(rest.substr(close + 9))) return shape(false, "text after </answer>");
    return shape(true, "think then answer");
  }
  if (n_open + n_close > 0) return shape(false, "want exactly one <answer>…</answer>");
  if (cfg.allow_boxed && count(rest, "\\boxed{") == 1) {
    // The box must close (braces nest) and hold something.
    const size_t open = rest.find("\\boxed{") + 7;
    int depth = 1;
    size_t i = open;
    for (; i < rest.size() && depth > 0; ++i) depth += rest[i] == '{' ? 1 : rest[i] == '}' ? -1 : 0;
    if (depth > 0) return shape(false, "\\boxed{ never closes");
    if (blank(rest.substr(open, i - 1 - open))) return shape(false, "empty \\boxed{}");
    return shape(true, cfg.require_think ? "think then \\boxed{}" : "one \\boxed{}");
  }
  return shape(false, cfg.require_think ? "no answer after the think block" : "no \\boxed{} or <answer>");
}

double overlong_penalty(int64_t n_tokens, int64_t max_tokens, int64_t buffer_tokens) {
  GRPO_CHECK(buffer_tokens >= 0 && buffer_tokens <= max_tokens, "overlong_penalty: buffer ", buffer_tokens,
             " must be in [0, max_tokens=", max_tokens, "]");
  const int64_t soft = max_tokens - buffer_tokens;
  if (n_tokens <= soft) return 0.0;
  if (n_tokens > max_tokens) return -1.0;
  return static_cast<double>(soft - n_tokens) / static_cast<double>(buffer_tokens);
}

}  // namespace grpo::rewards
