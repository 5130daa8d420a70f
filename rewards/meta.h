// A JSON field of a dataset or input line as a verifier's meta string (score.h's Meta), so `grpo reward` and
// the training data (rl/data) hand a field to the checkers in one form. Not a file reader, not a field map.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace grpo::rewards {

// The meta string for one JSON value:
//   string                          -> as it is ("\\frac{1}{2}")
//   non-empty list of numbers       -> comma-joined, each number as below ("3,15,7")
//   number                          -> an integral float as an integer (66.0 -> "66"), others as JSON ("0.5")
//   null                            -> nullopt: the field is absent (left out of Meta), never the text "null"
//   anything else (object, bool, mixed or empty list) -> compact JSON text
std::optional<std::string> meta_from_json(const nlohmann::json& value);
std::optional<std::string> meta_from_json(const nlohmann::ordered_json& value);

}  // namespace grpo::rewards
