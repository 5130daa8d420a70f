// grpo reward; see reward_cmd.h. Each input line is a JSON object with "completion" and the task's fields; each
// output line is that object plus "reward", "verdict" and "detail". A malformed line is scored invalid_input
// with its line number, and the run goes on.
#include "recipes/reward_cmd.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <optional>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "kernels/check.h"
#include "recipes/cli_args.h"
#include "rewards/pool.h"
#include "rewards/registry.h"

namespace grpo::recipes {
namespace {

constexpr const char* kUsage =
    "grpo reward --task math|countdown|code --input FILE.jsonl [--output FILE.jsonl] [--threads N]";

// A JSON field as the checkers' string meta: strings as they are, number lists as "3,15,7", the rest as JSON.
std::string meta_value(const nlohmann::ordered_json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_array() && !v.empty() && std::all_of(v.begin(), v.end(), [](const auto& x) { return x.is_number(); })) {
    std::string s;
    for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + v[i].dump();
    return s;
  }
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (d == static_cast<double>(static_cast<long long>(d))) return std::to_string(static_cast<long long>(d));
  }
  return v.dump();
}

}  // namespace

int run_reward(int argc, char** argv) {
  Args a = parse_args(argc, argv, "reward", {"--task", "--input", "--output", "--threads"}, {}, kUsage);
  GRPO_CHECK(a.has("--task") && a.has("--input"), "grpo reward: --task and --input are required; usage: ", kUsage);
  const std::string task = a.get("--task");
  rewards::find_checker(task);  // an unknown task stops here, naming the known ones
  const int threads = static_cast<int>(
      a.get_count("--threads", std::max(1u, std::thread::hardware_concurrency()), "reward"));
  std::ifstream in(a.get("--input"), std::ios::binary);
  GRPO_CHECK(in.good(), "grpo reward: cannot open ", a.get("--input"), "; hint: check the path");

  // Parse every line first; malformed ones keep their slot with an invalid_input score.
  std::vector<nlohmann::ordered_json> rows;  // input field order is kept
  std::vector<std::optional<rewards::Score>> fixed;  // per row; malformed lines are decided here
  std::vector<rewards::ScoreRequest> todo;          // the well-formed rows, to score
  std::vector<size_t> todo_index;                   // their row numbers
  std::string line;
  for (size_t n = 1; std::getline(in, line); ++n) {
    if (line.empty() || line == "\r") continue;
    nlohmann::ordered_json row;
    std::string problem;
    try {
      row = nlohmann::ordered_json::parse(line);
      if (!row.is_object()) problem = "not a JSON object";
      else if (!row.contains("completion") || !row.at("completion").is_string()) problem = "no string \"completion\"";
    } catch (const nlohmann::json::exception& e) {
      problem = std::string("invalid JSON (") + e.what() + ")";
      row = nlohmann::ordered_json{{"line", n}};
    }
    if (problem.empty()) {
      rewards::ScoreRequest req;
      req.task = task;
      req.completion = row.at("completion").get<std::string>();
      for (auto it = row.begin(); it != row.end(); ++it)
        if (it.key() != "completion") req.meta[it.key()] = meta_value(it.value());
      todo.push_back(std::move(req));
      todo_index.push_back(rows.size());
      fixed.emplace_back();
    } else {
      rewards::Score s;
      s.verdict = rewards::Verdict::invalid_input;
      s.detail = a.get("--input") + ":" + std::to_string(n) + ": " + problem;
      fixed.emplace_back(s);
    }
    rows.push_back(std::move(row));
  }

  rewards::PoolConfig pc;
  pc.n_threads = threads;
  rewards::ScorePool pool(pc);
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<rewards::Score> scored = pool.score(todo);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  for (size_t k = 0; k < scored.size(); ++k) fixed[todo_index[k]] = scored[k];

  std::ofstream out_file;
  if (a.has("--output")) {
    out_file.open(a.get("--output"), std::ios::binary | std::ios::trunc);
    GRPO_CHECK(out_file.good(), "grpo reward: cannot write ", a.get("--output"));
  }
  std::map<std::string, int64_t> counts;
  for (size_t i = 0; i < rows.size(); ++i) {
    const rewards::Score& s = *fixed[i];
    nlohmann::ordered_json row = rows[i];
    row["reward"] = s.value;
    row["verdict"] = rewards::verdict_name(s.verdict);
    row["detail"] = s.detail;
    ++counts[rewards::verdict_name(s.verdict)];
    const std::string text = row.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
    if (out_file.is_open()) out_file << text;
    else std::fwrite(text.data(), 1, text.size(), stdout);
  }
  if (out_file.is_open()) {
    out_file.close();
    GRPO_CHECK(out_file.good(), "grpo reward: writing ", a.get("--output"), " failed; hint: check free space");
  }
  std::string summary;
  for (const auto& [v, c] : counts) summary += " " + v + "=" + std::to_string(c);
  std::fprintf(stderr, "reward: %zu lines:%s; %zu checks in %.3f s (%.0f checks/s, %d threads)\n", rows.size(),
               summary.c_str(), todo.size(), secs, secs > 0 ? static_cast<double>(todo.size()) / secs : 0.0, threads);
  return 0;
}

}  // namespace grpo::recipes
