// Answer extraction and the math Score. See math_reward.h.
#include "rewards/math/math_reward.h"

#include <cctype>
#include <cstring>

#include "kernels/check.h"

namespace grpo::rewards::math {
namespace {

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  size_t k = 0;
  while (k < s.size() && std::isspace(static_cast<unsigned char>(s[k]))) ++k;
  return s.substr(k);
}

std::optional<std::string> last_boxed(std::string_view s) {
  size_t best = std::string_view::npos, len = 0;
  for (const char* cmd : {"\\boxed", "\\fbox"}) {
    const size_t p = s.rfind(cmd);
    if (p != std::string_view::npos && (best == std::string_view::npos || p > best)) best = p, len = std::strlen(cmd);
  }
  if (best == std::string_view::npos) return std::nullopt;
  size_t i = best + len;
  while (i < s.size() && s[i] == ' ') ++i;
  if (i < s.size() && s[i] == '{') {
    int depth = 0;
    const size_t start = i + 1;
    for (; i < s.size(); ++i) {
      if (s[i] == '\\' && i + 1 < s.size()) {
        ++i;
        continue;
      }
      if (s[i] == '{') ++depth;
      else if (s[i] == '}' && --depth == 0) return trim(std::string(s.substr(start, i - start)));
    }
    return std::nullopt;  // unbalanced: no answer
  }
  size_t j = i;
  while (j < s.size() && !std::isspace(static_cast<unsigned char>(s[j])) && s[j] != '$') ++j;
  if (j == i) return std::nullopt;
  return std::string(s.substr(i, j - i));
}

std::optional<std::string> answer_tag(std::string_view s) {
  const size_t open = s.rfind("<answer>");
  if (open == std::string_view::npos) return std::nullopt;
  const size_t start = open + 8, close = s.find("</answer>", start);
  std::string inner(s.substr(start, close == std::string_view::npos ? std::string_view::npos : close - start));
  // An answer tag holding a box: the box's content.
  if (auto boxed = last_boxed(inner)) return boxed;
  return trim(inner);
}

std::optional<std::string> gsm8k(std::string_view s) {
  const size_t p = s.rfind("####");
  if (p == std::string_view::npos) return std::nullopt;
  size_t b = p + 4;
  while (b < s.size() && (s[b] == ' ' || s[b] == '\t')) ++b;
  size_t e = b;
  while (e < s.size() && !std::isspace(static_cast<unsigned char>(s[e]))) ++e;  // the first token: "#### 1,234"
  if (e == b) return std::nullopt;
  return std::string(s.substr(b, e - b));
}

std::optional<std::string> the_answer_is(std::string_view s) {
  std::string lower(s);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const size_t p = lower.rfind("answer is");
  if (p == std::string::npos) return std::nullopt;
  std::string rest(s.substr(p + 9));
  size_t end = rest.find('\n');
  rest = rest.substr(0, end);
  // The sentence ends at ". " or a final period (not a decimal point).
  for (size_t k = 0; k < rest.size(); ++k) {
    if (rest[k] == '.' && (k + 1 == rest.size() || std::isspace(static_cast<unsigned char>(rest[k + 1])))) {
      rest.resize(k);
      break;
    }
  }
  rest = trim(rest);
  while (!rest.empty() && (rest[0] == ':' || rest[0] == '$')) rest = trim(rest.substr(1));
  while (!rest.empty() && rest.back() == '$') rest = trim(rest.substr(0, rest.size() - 1));
  if (auto boxed = last_boxed(rest)) return boxed;
  if (rest.empty()) return std::nullopt;
  return rest;
}

std::optional<std::string> last_number(std::string_view s) {
  // Scan back to the last digit, then take the number around it: -?digits(,ddd)*(.digits)?(/digits)?
  size_t e = s.size();
  while (e > 0 && !std::isdigit(static_cast<unsigned char>(s[e - 1]))) --e;
  if (e == 0) return std::nullopt;
  size_t b = e;
  auto part = [&](size_t k) {
    return std::isdigit(static_cast<unsigned char>(s[k])) ||
           ((s[k] == ',' || s[k] == '.' || s[k] == '/') && k > 0 && k + 1 < s.size() &&
            std::isdigit(static_cast<unsigned char>(s[k - 1])) && std::isdigit(static_cast<unsigned char>(s[k + 1])));
  };
  while (b > 0 && part(b - 1)) --b;
  if (b > 0 && s[b - 1] == '-') --b;
  return std::string(s.substr(b, e - b));
}

}  // namespace

std::vector<AnswerFormat> parse_answer_formats(std::string_view list) {
  std::vector<AnswerFormat> out;
  size_t start = 0;
  while (start <= list.size()) {
    size_t comma = list.find(',', start);
    std::string name(list.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
    name = trim(name);
    if (name == "boxed") out.push_back(AnswerFormat::kBoxed);
    else if (name == "answer_tag") out.push_back(AnswerFormat::kAnswerTag);
    else if (name == "gsm8k") out.push_back(AnswerFormat::kGsm8k);
    else if (name == "the_answer_is") out.push_back(AnswerFormat::kTheAnswerIs);
    else if (name == "last_number") out.push_back(AnswerFormat::kLastNumber);
    else GRPO_FAIL("unknown answer format '", name, "'; hint: use boxed, answer_tag, gsm8k, the_answer_is, last_number");
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

std::optional<std::string> extract_answer(std::string_view completion, const ExtractConfig& cfg) {
  for (AnswerFormat f : cfg.formats) {
    std::optional<std::string> a;
    switch (f) {
      case AnswerFormat::kBoxed: a = last_boxed(completion); break;
      case AnswerFormat::kAnswerTag: a = answer_tag(completion); break;
      case AnswerFormat::kGsm8k: a = gsm8k(completion); break;
      case AnswerFormat::kTheAnswerIs: a = the_answer_is(completion); break;
      case AnswerFormat::kLastNumber: a = last_number(completion); break;
    }
    if (a && !a->empty()) return a;
  }
  return std::nullopt;
}

Score score_math(std::string_view completion, std::string_view gold, const MathRewardConfig& cfg) {
  Score s;
  s.value = 0;
  Expr g;
  try {
    g = parse_answer(gold, cfg.limits);
  } catch (const ParseError& e) {
    // A gold that does not parse can still be matched as text.
    g.op = Op::kText;
    g.text = normalize_answer(gold);
    if (g.text.empty()) {
      s.verdict = Verdict::invalid_input;
      s.detail = "the gold answer is empty";
      return s;
    }
  }
  const std::optional<std::string> answer = extract_answer(completion, cfg.extract);
  if (!answer) {
    s.verdict = Verdict::unparsable;
    s.detail = "no answer found";
    return s;
  }
  Expr p;
  try {
    p = parse_answer(*answer, cfg.limits);
  } catch (const ParseError& e) {
    s.answer = normalize_answer(*answer);
    if (answer->size() <= cfg.limits.max_chars && s.answer == normalize_answer(gold)) {
      s.value = 1;
      s.verdict = Verdict::ok;
      s.detail = "same text";
      return s;
    }
    s.verdict = Verdict::unparsable;
    s.detail = "cannot parse '" + answer->substr(0, 200) + "': " + e.what;
    return s;
  }
  s.answer = canonical_answer(p);  // maj@k votes on it
  const EquivalenceResult r = equivalent(g, p, cfg.equivalence);
  if (r.timed_out) {
    s.verdict = Verdict::timeout;
    s.detail = r.detail;
  } else if (r.equal) {
    s.value = 1;
    s.verdict = Verdict::ok;
    s.detail = "equal to " + to_string(g);
  } else {
    s.verdict = Verdict::wrong;
    s.detail = r.detail;
  }
  s.components["correct"] = s.value;
  return s;
}

}  // namespace grpo::rewards::math
