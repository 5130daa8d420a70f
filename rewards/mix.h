// A reward mixture: several weighted components scored for each completion (verifiers such as math, countdown and
// code; shaping terms such as format and DAPO's overlong penalty; a user's external program), summed into one
// reward. The verifier component decides the verdict, so accuracy always means "the verifier said ok", never a
// shaped total. Pure C++ on the scoring pool; no LibTorch.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "rewards/pool.h"

namespace grpo::rewards {

// Component names besides the registry's tasks.
constexpr const char* kOverlongComponent = "overlong";  // DAPO soft overlong penalty on the completion's tokens
constexpr const char* kExternalComponent = "external";  // the recipe's external reward program (external.h)

struct RewardMixConfig {
  std::map<std::string, double> weights = {{"math", 1.0}};  // component -> weight; reward = sum of weight * value
  std::string verifier;          // the component whose verdict (ok = correct) and detail the Score carries; "" = the
                                 // only component that is not a shaping term (format, boxed, overlong)
  int64_t overlong_buffer = 0;   // DAPO: the last N tokens of the budget are penalised linearly (needs "overlong")
  // Throws one line naming the component for an unknown name, a non-finite weight or no verifier.
  // `has_external`: an external program is configured (the "external" component may be used).
  void validate(bool has_external) const;
  std::string resolved_verifier() const;  // REQUIRES: validate() passed
};

struct MixRequest {
  std::string completion;
  const Meta* meta = nullptr;  // the prompt's meta (REQUIRES: outlives the call)
  int64_t n_tokens = 0;        // completion tokens (overlong penalty)
  int64_t max_tokens = 0;      // the token budget the completion had
};

// One Score per request: value = sum_i weight_i * value_i; components[name] = value_i (unweighted);
// verdict, detail and answer from the verifier. Every component is scored in the pool (in parallel, errors as Scores).
std::vector<Score> score_mix(ScorePool& pool, const RewardMixConfig& cfg, const std::vector<MixRequest>& requests);

}  // namespace grpo::rewards
