// HumanEval through the code reward: all 164 canonical solutions (prompt + canonical_solution, tests +
// check(entry_point)) must pass, and mutants computed here from the shared file must fail: every integer
// literal + 1 (off by one), every one-line `return e` -> `return _grpo_mutant((e))` (wrong return), and a
// `raise` before the body. The data is read from GRPO_SHARED_DATA at test time, never copied.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>

#include "rewards/code/code_reward.h"
#include "test_code_util.h"
#include "tests/shared_data.h"

using grpo::rewards::Verdict;
using grpo::rewards::verdict_name;
using namespace grpo::rewards::code;

namespace {

struct Problem {
  std::string task_id, prompt, solution, test, entry_point;
};

std::vector<Problem> load_humaneval() {
  std::ifstream in(grpo::test::shared_data_path("code/humaneval.jsonl"));
  std::vector<Problem> problems;
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line);
    problems.push_back({j["task_id"], j["prompt"], j["canonical_solution"], j["test"], j["entry_point"]});
  }
  return problems;
}

// Copies a Python string literal starting at src[i] (quote or triple quote) into out; returns the end.
size_t copy_string_literal(const std::string& src, size_t i, std::string& out) {
  const char q = src[i];
  const size_t width = src.compare(i, 3, std::string(3, q)) == 0 ? 3 : 1;
  out.append(src, i, width);
  i += width;
  while (i < src.size()) {
    if (src[i] == '\\' && i + 1 < src.size()) {
      out.append(src, i, 2);
      i += 2;
    } else if (src.compare(i, width, std::string(width, q)) == 0) {
      out.append(src, i, width);
      return i + width;
    } else {
      if (width == 1 && src[i] == '\n') return i;
      out += src[i++];
    }
  }
  return i;
}

// Off by one: every decimal integer literal outside strings and comments + 1; nullopt when none.
std::optional<std::string> bump_int_literals(const std::string& src) {
  std::string out;
  bool changed = false;
  size_t i = 0;
  auto is_word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  while (i < src.size()) {
    const char c = src[i];
    if (c == '#') {
      size_t end = src.find('\n', i);
      end = end == std::string::npos ? src.size() : end;
      out.append(src, i, end - i);
      i = end;
    } else if (c == '"' || c == '\'') {
      i = copy_string_literal(src, i, out);
    } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      while (i < src.size() && is_word(src[i])) out += src[i++];
    } else if (std::isdigit(static_cast<unsigned char>(c))) {
      size_t j = i;
      while (j < src.size() && std::isdigit(static_cast<unsigned char>(src[j]))) ++j;
      const bool plain = !(j < src.size() && (src[j] == '.' || is_word(src[j]))) && !(i > 0 && src[i - 1] == '.') &&
                         (j - i == 1 || src[i] != '0') && j - i < 18;
      out += plain ? std::to_string(std::stoll(src.substr(i, j - i)) + 1) : src.substr(i, j - i);
      changed |= plain;
      i = j;
    } else {
      out += src[i++];
    }
  }
  return changed ? std::optional<std::string>(out) : std::nullopt;
}

constexpr const char* kMutantHelper = R"PY(

def _grpo_mutant(v):
    if isinstance(v, bool):
        return not v
    if isinstance(v, (int, float)):
        return v + 1
    if isinstance(v, str):
        return v + "?"
    if isinstance(v, list):
        return v + [None]
    if isinstance(v, tuple):
        return v + (None,)
    if v is None:
        return 0
    return None
)PY";

// Wrong return: every `return e` written on one line (brackets balanced, no continuation) becomes
// `return _grpo_mutant((e))`; nullopt when none.
std::optional<std::string> wrap_returns(const std::string& src) {
  std::string out;
  bool changed = false;
  size_t pos = 0;
  while (pos < src.size()) {
    size_t end = src.find('\n', pos);
    end = end == std::string::npos ? src.size() : end;
    std::string line = src.substr(pos, end - pos);
    const size_t ind = line.find_first_not_of(" \t");
    if (ind != std::string::npos && line.compare(ind, 6, "return") == 0 &&
        (ind + 6 == line.size() || line[ind + 6] == ' ' || line[ind + 6] == '(')) {
      std::string expr, scratch;
      int depth = 0;
      size_t i = ind + 6;
      while (i < line.size() && line[i] != '#') {  // strip a trailing comment, track brackets
        if (line[i] == '"' || line[i] == '\'') {
          scratch.clear();
          i = copy_string_literal(line, i, scratch);
          expr += scratch;
          continue;
        }
        depth += (line[i] == '(' || line[i] == '[' || line[i] == '{') - (line[i] == ')' || line[i] == ']' || line[i] == '}');
        expr += line[i++];
      }
      while (!expr.empty() && std::isspace(static_cast<unsigned char>(expr.back()))) expr.pop_back();
      if (depth == 0 && (expr.empty() || expr.back() != '\\')) {
        const size_t start = expr.find_first_not_of(' ');
        line = line.substr(0, ind) + "return _grpo_mutant((" + (start == std::string::npos ? "None" : expr.substr(start)) + "))";
        changed = true;
      }
    }
    out += line;
    if (end < src.size()) out += '\n';
    pos = end + 1;
  }
  return changed ? std::optional<std::string>(out + kMutantHelper) : std::nullopt;
}

// Raising: `raise ValueError("mutant")` as the first statement of the body.
std::string raise_first(const std::string& solution) {
  std::string indent = "    ";
  for (size_t pos = 0; pos < solution.size();) {  // the indentation of the first line with code
    size_t end = std::min(solution.find('\n', pos), solution.size());
    size_t code = solution.find_first_not_of(" \t", pos);
    if (code < end) {
      indent = solution.substr(pos, code - pos);
      break;
    }
    pos = end + 1;
  }
  return indent + "raise ValueError(\"mutant\")\n" + solution;
}

SandboxConfig suite_config() {
  SandboxConfig cfg;
  cfg.cpu_seconds = 4;
  cfg.wall_seconds = 8;
  return cfg;
}

}  // namespace

TEST_CASE("code: the mutation operators rewrite only code", "[cpu]") {
  CHECK(bump_int_literals("x = a[0] + 10  # 3\ns = '1' + \"\"\"2\"\"\"\ny = 1.5 + 2e3 + 0x1f + v2\n") ==
        std::optional<std::string>("x = a[1] + 11  # 3\ns = '1' + \"\"\"2\"\"\"\ny = 1.5 + 2e3 + 0x1f + v2\n"));
  CHECK_FALSE(bump_int_literals("return s.upper()\n"));
  auto wrapped = wrap_returns("    if x:\n        return a, b  # pair\n    return (\n        1)\n    return\n");
  REQUIRE(wrapped);
  CHECK(wrapped->rfind("    if x:\n        return _grpo_mutant((a, b))\n    return (\n        1)\n"
                       "    return _grpo_mutant((None))\n", 0) == 0);
  CHECK(raise_first("\n    return 1\n") == "    raise ValueError(\"mutant\")\n\n    return 1\n");
  CHECK(raise_first(" \n  x = 1\n") == "  raise ValueError(\"mutant\")\n \n  x = 1\n");
}

TEST_CASE("code: all HumanEval canonical solutions pass", "[cpu][slow][shared]") {
  GRPO_NEED_SHARED_DATA("code/humaneval.jsonl");
  const auto problems = load_humaneval();
  REQUIRE(problems.size() == 164);
  const SandboxConfig cfg = suite_config();
  std::vector<grpo::rewards::Score> scores(problems.size());
  grpo_test::parallel_for(problems.size(), 2, [&](size_t i) {
    const Problem& p = problems[i];
    scores[i] = score_code(p.prompt + p.solution, CodeTask{p.test, p.entry_point, {}}, cfg);
  });
  size_t passed = 0;
  for (size_t i = 0; i < problems.size(); ++i) {
    INFO(problems[i].task_id << ": " << verdict_name(scores[i].verdict) << " " << scores[i].detail);
    CHECK(scores[i].verdict == Verdict::ok);
    passed += scores[i].verdict == Verdict::ok;
  }
  std::printf("HumanEval canonical solutions: %zu/%zu pass\n", passed, problems.size());
}

TEST_CASE("code: at least 95% of mutated HumanEval solutions fail", "[cpu][slow][shared]") {
  GRPO_NEED_SHARED_DATA("code/humaneval.jsonl");
  const auto problems = load_humaneval();
  REQUIRE(problems.size() == 164);
  struct Mutant {
    size_t problem;
    int kind;  // 0 off by one, 1 wrong return, 2 raising
    std::string program;
  };
  std::vector<Mutant> mutants;
  for (size_t i = 0; i < problems.size(); ++i) {
    const Problem& p = problems[i];
    if (auto m = bump_int_literals(p.solution)) mutants.push_back({i, 0, p.prompt + *m});
    if (auto m = wrap_returns(p.solution)) mutants.push_back({i, 1, p.prompt + *m});
    mutants.push_back({i, 2, p.prompt + raise_first(p.solution)});
  }
  const SandboxConfig cfg = suite_config();
  std::vector<grpo::rewards::Score> scores(mutants.size());
  grpo_test::parallel_for(mutants.size(), 2, [&](size_t i) {
    const Problem& p = problems[mutants[i].problem];
    scores[i] = score_code(mutants[i].program, CodeTask{p.test, p.entry_point, {}}, cfg);
  });
  const char* kKinds[] = {"off by one", "wrong return", "raising"};
  size_t made[3] = {}, failed[3] = {};
  std::map<std::string, int> verdicts;
  for (size_t i = 0; i < mutants.size(); ++i) {
    const int k = mutants[i].kind;
    ++made[k];
    failed[k] += scores[i].verdict != Verdict::ok;
    ++verdicts[verdict_name(scores[i].verdict)];
    CHECK(scores[i].verdict != Verdict::sandbox_error);
    CHECK(scores[i].verdict != Verdict::internal_error);
    if (scores[i].verdict != Verdict::wrong) {
      std::printf("mutant %s (%s): %s %s\n", problems[mutants[i].problem].task_id.c_str(), kKinds[k],
                  verdict_name(scores[i].verdict), scores[i].detail.substr(0, 100).c_str());
    }
  }
  for (int k = 0; k < 3; ++k) std::printf("mutants %-12s: %zu/%zu fail\n", kKinds[k], failed[k], made[k]);
  for (const auto& [v, n] : verdicts) std::printf("  verdict %s: %d\n", v.c_str(), n);
  const size_t total = made[0] + made[1] + made[2], total_failed = failed[0] + failed[1] + failed[2];
  std::printf("mutants overall: %zu/%zu fail (%.1f%%)\n", total_failed, total, 100.0 * total_failed / total);
  CHECK(failed[2] == made[2]);  // a raise before the body can never pass
  CHECK(total_failed * 100 >= total * 95);
}
