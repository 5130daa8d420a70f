// Atomic checkpoint directories; see checkpoint.h.
#include "rl/checkpoint.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "kernels/check.h"
#include "policy/weights.h"
#include "rl/learner.h"

namespace grpo::rl {

namespace fs = std::filesystem;

namespace {

constexpr const char* kStatefile = "trainer_state.json";

void fsync_path(const fs::path& p) {
  int fd = ::open(p.c_str(), O_RDONLY);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

std::string step_name(int64_t step) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "step_%06lld", static_cast<long long>(step));
  return buf;
}

// step_* directories that hold a trainer_state.json, oldest first.
std::vector<std::pair<int64_t, fs::path>> list_checkpoints(const fs::path& root) {
  std::vector<std::pair<int64_t, fs::path>> out;
  if (!fs::is_directory(root)) return out;
  for (const auto& e : fs::directory_iterator(root)) {
    const std::string name = e.path().filename().string();
    if (!e.is_directory() || name.rfind("step_", 0) != 0) continue;
    if (!fs::exists(e.path() / kStatefile)) continue;
    try {
      out.emplace_back(std::stoll(name.substr(5)), e.path());
    } catch (const std::exception&) {
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Temporary directories of writers that died (kill -9, power loss): never a checkpoint, removed on the next save.
void remove_stale_temporaries(const fs::path& root) {
  for (const auto& e : fs::directory_iterator(root)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(".tmp-", 0) != 0 && name.rfind(".old-", 0) != 0) continue;
    const auto dash = name.rfind('-');
    long pid = 0;
    try {
      pid = std::stol(name.substr(dash + 1));
    } catch (const std::exception&) {
      continue;
    }
    if (pid > 0 && pid != ::getpid() && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) {
      std::error_code ec;
      fs::remove_all(e.path(), ec);
    }
  }
}

}  // namespace

std::string save_checkpoint(const std::string& run_dir, const policy::Policy& policy, const Learner* learner,
                            const TrainerState& state, int64_t keep_last) {
  const fs::path root = fs::path(run_dir) / "checkpoints";
  fs::create_directories(root);
  const fs::path final_dir = root / step_name(state.step);
  remove_stale_temporaries(root);
  const fs::path tmp = root / (".tmp-" + step_name(state.step) + "-" + std::to_string(::getpid()));
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  policy::save_policy(policy, tmp.string());
  if (learner != nullptr) learner->save_optimizer((tmp / "optimizer.pt").string());
  {
    nlohmann::json j = {{"phase", state.phase}, {"step", state.step}, {"seed", state.seed}, {"extra", state.extra}};
    std::ofstream out(tmp / kStatefile);
    out << j.dump(2) << "\n";
    GRPO_CHECK(out.good(), "cannot write ", (tmp / kStatefile).string(), "; hint: check free disk space");
  }
  for (const auto& e : fs::directory_iterator(tmp)) fsync_path(e.path());
  fsync_path(tmp);
  // Replace an existing checkpoint of the same step (a re-run) only after the new one is complete, in one atomic
  // exchange: at every instant one complete step_N exists.
  if (fs::exists(final_dir)) {
    GRPO_CHECK(::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, final_dir.c_str(), RENAME_EXCHANGE) == 0,
               "cannot replace ", final_dir.string(), ": ", std::strerror(errno));
    fs::remove_all(tmp);  // now the old one
  } else {
    fs::rename(tmp, final_dir);
  }
  fsync_path(root);
  if (keep_last > 0) {
    auto all = list_checkpoints(root);
    for (size_t i = 0; i + static_cast<size_t>(keep_last) < all.size(); ++i) fs::remove_all(all[i].second);
  }
  return final_dir.string();
}

std::optional<std::string> latest_checkpoint(const std::string& run_dir, int64_t max_step) {
  auto all = list_checkpoints(fs::path(run_dir) / "checkpoints");
  for (auto it = all.rbegin(); it != all.rend(); ++it) {
    if (it->first <= max_step) return it->second.string();
  }
  return std::nullopt;
}

TrainerState read_trainer_state(const std::string& checkpoint_dir) {
  const std::string path = (fs::path(checkpoint_dir) / kStatefile).string();
  std::ifstream in(path);
  GRPO_CHECK(in.good(), "cannot open ", path, "; hint: is this a checkpoint directory written by grpo?");
  std::stringstream ss;
  ss << in.rdbuf();
  nlohmann::json j = nlohmann::json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
  GRPO_CHECK(j.is_object() && j.contains("step") && j["step"].is_number_integer(), path,
             ": invalid trainer state (needs an integer 'step')");
  TrainerState s;
  s.phase = j.value("phase", "");
  s.step = j["step"].get<int64_t>();
  s.seed = j.value("seed", uint64_t{0});
  if (j.contains("extra")) s.extra = j["extra"];
  return s;
}

}  // namespace grpo::rl
