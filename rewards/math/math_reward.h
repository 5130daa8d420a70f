// The math reward: find the final answer in a completion (extract_answer), parse it and the gold answer
// (expr.h) and compare them (equivalence.h). Verdicts: ok, wrong, unparsable (no answer found, or it does
// not parse and is not the gold text either), timeout, invalid_input (the gold itself does not parse).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rewards/math/equivalence.h"
#include "rewards/math/expr.h"
#include "rewards/score.h"

namespace grpo::rewards::math {

enum class AnswerFormat {
  kBoxed,        // the last \boxed{...} or \fbox{...} (nested braces)
  kAnswerTag,    // the last <answer>...</answer>
  kGsm8k,        // "#### 42"
  kTheAnswerIs,  // "the answer is 42."
  kLastNumber,   // the last number in the text
};

struct ExtractConfig {
  // Tried in order; the first that finds something wins.
  std::vector<AnswerFormat> formats = {AnswerFormat::kBoxed, AnswerFormat::kAnswerTag, AnswerFormat::kGsm8k,
                                       AnswerFormat::kTheAnswerIs, AnswerFormat::kLastNumber};
};

// Parses "boxed,answer_tag,gsm8k,the_answer_is,last_number" (any subset, in order); throws naming the bad one.
std::vector<AnswerFormat> parse_answer_formats(std::string_view list);

std::optional<std::string> extract_answer(std::string_view completion, const ExtractConfig& cfg = {});

struct MathRewardConfig {
  ExtractConfig extract;
  EquivalenceConfig equivalence;
  ParseLimits limits;
};

Score score_math(std::string_view completion, std::string_view gold, const MathRewardConfig& cfg = {});

}  // namespace grpo::rewards::math
