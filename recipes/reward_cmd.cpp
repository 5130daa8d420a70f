// grpo reward; see reward_cmd.h. Each input line is a JSON object with "completion" and the task's fields; each
// output line is that object plus "reward", "verdict" and "detail". A malformed line is scored invalid_input
// with its line number, and the run goes on.
#include "recipes/reward_cmd.h"

#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "kernels/check.h"
#include "recipes/cli_args.h"
#include "rewards/meta.h"
#include "rewards/pool.h"
#include "rewards/registry.h"

namespace grpo::recipes {
namespace {

constexpr const char* kUsage =
    "grpo reward --task math|countdown|code --input FILE.jsonl [--output FILE.jsonl] [--threads N]";

// Deletes the temporary output file unless it was renamed into place: a failed run leaves no partial file.
class TempFile {
 public:
  explicit TempFile(std::string path) : path_(std::move(path)) {}
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile() {
    if (!path_.empty()) std::remove(path_.c_str());
  }
  const std::string& path() const { return path_; }
  void release() { path_.clear(); }

 private:
  std::string path_;
};

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
      if (!row.is_object()) {
        problem = std::string("not a JSON object but ") + row.type_name();
        row = nlohmann::ordered_json{{"line", n}};  // an array, string or number has no fields to add to
      } else if (!row.contains("completion") || !row.at("completion").is_string()) {
        problem = "no string \"completion\"";
      }
    } catch (const nlohmann::json::exception& e) {
      problem = std::string("invalid JSON (") + e.what() + ")";
      row = nlohmann::ordered_json{{"line", n}};
    }
    if (problem.empty()) {
      rewards::ScoreRequest req;
      req.task = task;
      req.completion = row.at("completion").get<std::string>();
      for (auto it = row.begin(); it != row.end(); ++it) {
        if (it.key() == "completion") continue;
        if (std::optional<std::string> v = rewards::meta_from_json(it.value())) req.meta[it.key()] = *v;  // null: absent
      }
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

  // NOTE: --output is written to a temporary file beside it and renamed into place, so a failed or killed run
  // never leaves a truncated file (an existing one stays as it was).
  const std::string out_path = a.has("--output") ? a.get("--output") : "";
  TempFile temp(out_path.empty() ? "" : out_path + ".tmp." + std::to_string(getpid()));
  std::ofstream out_file;
  if (!out_path.empty()) {
    out_file.open(temp.path(), std::ios::binary | std::ios::trunc);
    GRPO_CHECK(out_file.good(), "grpo reward: cannot write ", temp.path(), "; hint: check the --output directory");
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
    GRPO_CHECK(out_file.good(), "grpo reward: writing ", out_path, " failed; hint: check free space");
    GRPO_CHECK(std::rename(temp.path().c_str(), out_path.c_str()) == 0, "grpo reward: cannot rename ", temp.path(),
               " to ", out_path, "; hint: is ", out_path, " a directory?");
    temp.release();
  }
  std::string summary;
  for (const auto& [v, c] : counts) summary += " " + v + "=" + std::to_string(c);
  std::fprintf(stderr, "reward: %zu lines:%s; %zu checks in %.3f s (%.0f checks/s, %d threads)\n", rows.size(),
               summary.c_str(), todo.size(), secs, secs > 0 ? static_cast<double>(todo.size()) / secs : 0.0, threads);
  return 0;
}

}  // namespace grpo::recipes
