// Dataset files: JSONL (one JSON object per line) or a JSON array of objects, read into records that remember
// where they came from, and dotted-path access into a record's fields ("reward_model.ground_truth").
// Plain C++ on nlohmann::json: no LibTorch, no tokenizer, no task knowledge (presets.h maps fields to roles).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace grpo::rl::data {

struct Record {
  nlohmann::json fields;  // the object as read (or generated)
  std::string origin;     // "path:line" for JSONL, "path: element i" for a JSON array; used in every message
};

// Reads a JSONL file or a JSON array file (first non-space byte '['). Blank lines are skipped. Throws
// grpo::Error with one line naming the file and line (or element) for: a missing or unreadable file, a line
// that is not JSON, a value that is not an object, and a file with no records at all.
std::vector<Record> read_records(const std::string& path);

// The value at a dotted path ("reward_model.ground_truth"), or null when any step is missing. A key that itself
// contains a dot is found when it exists verbatim at the current level.
const nlohmann::json* find_field(const nlohmann::json& object, std::string_view dotted_path);

// Normalised text for duplicate detection: lower case, runs of whitespace collapsed to one space, trimmed.
std::string normalize_text(std::string_view s);

}  // namespace grpo::rl::data
