// Internal to rewards/math: the unit words normalize_answer (expr.h) drops after a value, also read by the parser for
// \text{...} groups. Not part of the verifier's interface.
#pragma once

#include <string>

#include "rewards/math/expr.h"

namespace grpo::rewards::math {

// Is w (any case, spaces around) a unit text: "cm", " sq units", "miles per hour", "ft/s", "in^2"? With `trailing`,
// also the abbreviations that are words elsewhere ("in", "min", "s", "h"): only at the end, right after a value.
bool is_unit(std::string w, bool trailing = false);

}  // namespace grpo::rewards::math
