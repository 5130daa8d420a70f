// JSONL / JSON-array dataset reading; see dataset.h.
#include "rl/data/dataset.h"

#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "kernels/check.h"

namespace grpo::rl::data {

namespace {

// "not JSON (parse error at byte 7)" without nlohmann's "[json.exception.parse_error.101]" prefix.
std::string short_parse_error(const nlohmann::json::parse_error& e) {
  std::string what = e.what();
  auto pos = what.find("] ");
  return pos == std::string::npos ? what : what.substr(pos + 2);
}

const char* kind_name(const nlohmann::json& v) {
  if (v.is_array()) return "an array";
  if (v.is_string()) return "a string";
  if (v.is_number()) return "a number";
  if (v.is_boolean()) return "a boolean";
  if (v.is_null()) return "null";
  return "an object";
}

}  // namespace

std::vector<Record> read_records(const std::string& path) {
  std::error_code ec;
  GRPO_CHECK(std::filesystem::is_regular_file(path, ec), "dataset ", path, " not found; hint: check the path "
             "(relative to the working directory)");
  std::ifstream in(path, std::ios::binary);
  GRPO_CHECK(in.good(), "cannot read dataset ", path, "; hint: check its permissions");
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  std::vector<Record> out;
  size_t first = text.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && text[first] == '[') {
    nlohmann::json all;
    try {
      all = nlohmann::json::parse(text);
    } catch (const nlohmann::json::parse_error& e) {
      GRPO_FAIL(path, ": not a JSON array (", short_parse_error(e), "); hint: a dataset is JSONL (one object per "
                "line) or one JSON array of objects");
    }
    for (size_t i = 0; i < all.size(); ++i) {
      GRPO_CHECK(all[i].is_object(), path, ": element ", i, " is ", kind_name(all[i]), ", not a JSON object");
      out.push_back({std::move(all[i]), str(path, ": element ", i)});
    }
  } else {
    std::istringstream lines(text);
    std::string line;
    for (size_t n = 1; std::getline(lines, line); ++n) {
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      nlohmann::json row;
      try {
        row = nlohmann::json::parse(line);
      } catch (const nlohmann::json::parse_error& e) {
        GRPO_FAIL(path, ":", n, ": not JSON (", short_parse_error(e), "); hint: JSONL holds one JSON object per line");
      }
      GRPO_CHECK(row.is_object(), path, ":", n, ": the line is ", kind_name(row), ", not a JSON object");
      out.push_back({std::move(row), str(path, ":", n)});
    }
  }
  GRPO_CHECK(!out.empty(), "dataset ", path, " holds no records; hint: is it the right file?");
  return out;
}

const nlohmann::json* find_field(const nlohmann::json& object, std::string_view dotted_path) {
  const nlohmann::json* cur = &object;
  std::string_view rest = dotted_path;
  while (true) {
    if (!cur->is_object()) return nullptr;
    auto whole = cur->find(std::string(rest));
    if (whole != cur->end()) return whole->is_null() ? nullptr : &*whole;
    const size_t dot = rest.find('.');
    if (dot == std::string_view::npos) return nullptr;
    auto it = cur->find(std::string(rest.substr(0, dot)));
    if (it == cur->end()) return nullptr;
    cur = &*it;
    rest = rest.substr(dot + 1);
  }
}

std::string normalize_text(std::string_view s) {
  std::string out;
  bool space = false;
  for (unsigned char c : s) {
    if (std::isspace(c)) {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += static_cast<char>(std::tolower(c));
  }
  return out;
}

}  // namespace grpo::rl::data
