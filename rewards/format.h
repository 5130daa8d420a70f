// Shape rewards that do not judge correctness: the R1-style format reward (a <think>…</think> block, then
// one <answer>…</answer> or \boxed{} answer; the reward component "format"), the same without the think block
// (component "boxed": one answer, for models that answer in prose) and DAPO's soft overlong penalty on completion length. Both are
// pure functions; a recipe weighs them against the correctness reward. Not a verifier of the answer itself.
#pragma once

#include <cstdint>
#include <string_view>

#include "rewards/score.h"

namespace grpo::rewards {

struct FormatConfig {
  bool require_think = true;   // a <think>…</think> block must open the completion (DeepSeek-R1 format reward)
  bool allow_boxed = true;     // \boxed{…} after the think block counts as the answer when there is no tag
};

// value 1 and verdict ok when the completion has the shape; 0 and unparsable (detail: what is missing)
// otherwise. Exactly one <think> block, closed; exactly one answer, after it; nothing but whitespace after
// </answer>; a \boxed{} answer must close and hold something.
Score score_format(std::string_view completion, const FormatConfig& cfg = {});

// DAPO (Yu et al. 2025, eq. 13): 0 up to max_tokens - buffer_tokens, then falling linearly to -1 at
// max_tokens, and -1 beyond. REQUIRES: 0 <= buffer_tokens <= max_tokens.
double overlong_penalty(int64_t n_tokens, int64_t max_tokens, int64_t buffer_tokens);

}  // namespace grpo::rewards
