// Program extraction, task validation and the meta entry point of the code reward.
#include "rewards/code/code_reward.h"

#include <algorithm>
#include <cctype>
#include <exception>
#include <utility>

#include <nlohmann/json.hpp>

namespace grpo::rewards::code {
namespace {

Score invalid(std::string detail) {
  Score s;
  s.components = {{"correct", 0.0}};
  s.verdict = Verdict::invalid_input;
  s.detail = std::move(detail);
  return s;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

bool is_identifier(std::string_view s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  }
  return true;
}

bool is_python_info(std::string_view info) {
  std::string lower;
  for (char c : trim(info)) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower.empty() || lower == "python" || lower == "py" || lower == "python3";
}

}  // namespace

std::string extract_program(std::string_view completion) {
  std::optional<std::string_view> last;  // the last python block so far
  bool in_block = false, block_is_python = false;
  size_t block_start = 0;
  size_t pos = 0;
  while (pos < completion.size()) {
    size_t end = completion.find('\n', pos);
    if (end == std::string_view::npos) end = completion.size();
    const std::string_view line = completion.substr(pos, end - pos);
    const std::string_view stripped = trim(line);
    const bool fence = stripped.substr(0, 3) == "```";
    if (in_block && fence && trim(stripped.substr(3)).empty()) {
      if (block_is_python) last = completion.substr(block_start, pos - block_start);
      in_block = false;
    } else if (!in_block && fence) {
      in_block = true;
      block_is_python = is_python_info(stripped.substr(3));
      block_start = std::min(end + 1, completion.size());
    }
    pos = end + 1;
  }
  if (in_block && block_is_python) last = completion.substr(block_start);  // unclosed: runs to the end
  return std::string(last ? *last : completion);
}

Score score_code(std::string_view completion, const CodeTask& task, const SandboxConfig& cfg) {
  if (task.tests.empty() == task.cases.empty()) {
    return invalid("a code task needs either tests or cases (exactly one); fix the prompt's meta");
  }
  if (!task.entry_point.empty() && !is_identifier(task.entry_point)) {
    return invalid("entry_point \"" + task.entry_point + "\" is not a Python identifier");
  }
  const std::string program = extract_program(completion);
  if (trim(program).empty()) {
    Score s;
    s.components = {{"correct", 0.0}};
    s.verdict = Verdict::unparsable;
    s.detail = "no program in the completion";
    return s;
  }
  if (!task.cases.empty()) return run_io_cases(program, task.cases, cfg);
  return run_call_tests(program, task.tests, task.entry_point, cfg);
}

std::optional<CodeTask> parse_code_meta(const Meta& meta, std::string* error) {
  CodeTask task;
  if (auto it = meta.find("tests"); it != meta.end()) task.tests = it->second;
  if (auto it = meta.find("entry_point"); it != meta.end()) task.entry_point = std::string(trim(it->second));
  if (auto it = meta.find("cases"); it != meta.end()) {
    auto cases = nlohmann::json::parse(it->second, nullptr, false);
    if (!cases.is_array()) {
      *error = "meta \"cases\" must be a JSON list of {\"input\", \"output\"} objects";
      return std::nullopt;
    }
    for (const auto& c : cases) {
      if (!c.is_object() || !c.contains("input") || !c.contains("output") || !c["input"].is_string() ||
          !c["output"].is_string()) {
        *error = "meta \"cases\": every case needs string fields \"input\" and \"output\"";
        return std::nullopt;
      }
      task.cases.push_back({c["input"].get<std::string>(), c["output"].get<std::string>()});
    }
  }
  if (task.tests.empty() == task.cases.empty()) {
    *error = "meta needs exactly one of \"tests\" (Python asserts) and \"cases\" (JSON stdin/stdout list)";
    return std::nullopt;
  }
  if (!task.entry_point.empty() && !is_identifier(task.entry_point)) {
    *error = "meta \"entry_point\" is \"" + task.entry_point + "\", not a Python identifier";
    return std::nullopt;
  }
  return task;
}

Score score_code_meta(std::string_view completion, const Meta& meta, const SandboxConfig& cfg) {
  std::string error;
  std::optional<CodeTask> task = parse_code_meta(meta, &error);
  if (!task) return invalid(error);
  return score_code(completion, *task, cfg);
}

Score score_code_meta(std::string_view completion, const Meta& meta) {
  return score_code_meta(completion, meta, SandboxConfig{});
}

}  // namespace grpo::rewards::code
