// Helpers for the code-reward tests: a small parallel loop (the suites use both cores), and accounting
// of what a run could leave behind (child processes, descriptors, temp directories).
#pragma once

#include <dirent.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace grpo_test {

// Calls fn(i) for every i in [0, n) from n_threads threads.
template <typename Fn>
void parallel_for(size_t n, int n_threads, Fn fn) {
  std::atomic<size_t> next{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < n_threads; ++t) {
    threads.emplace_back([&] {
      for (size_t i = next++; i < n; i = next++) fn(i);
    });
  }
  for (auto& t : threads) t.join();
}

inline std::vector<std::string> list_dir(const std::string& path) {
  std::vector<std::string> names;
  if (DIR* d = opendir(path.c_str())) {
    while (dirent* e = readdir(d)) {
      std::string name = e->d_name;
      if (name != "." && name != "..") names.push_back(name);
    }
    closedir(d);
  }
  return names;
}

// Every live or zombie process whose parent chain leads to `root` (root itself excluded), as
// "pid state comm" strings.
inline std::vector<std::string> descendants_of(int root) {
  std::map<int, int> parent;
  std::map<int, std::string> what;
  for (const auto& name : list_dir("/proc")) {
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream f("/proc/" + name + "/stat");
    std::string stat((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    size_t close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(stat.substr(close + 2));
    std::string state;
    int ppid = 0;
    rest >> state >> ppid;
    int pid = std::stoi(name);
    parent[pid] = ppid;
    what[pid] = name + " " + state + " " + stat.substr(stat.find('(') + 1, close - stat.find('(') - 1);
  }
  std::vector<std::string> found;
  for (const auto& [pid, ppid] : parent) {
    int p = ppid;
    for (int hops = 0; hops < 64 && p > 1 && p != root; ++hops) p = parent.count(p) ? parent[p] : 0;
    if (p == root && pid != root) found.push_back(what[pid]);
  }
  return found;
}

// Entries of /tmp whose names start with prefix.
inline std::vector<std::string> tmp_entries(const std::string& prefix) {
  std::vector<std::string> found;
  for (const auto& name : list_dir("/tmp")) {
    if (name.rfind(prefix, 0) == 0) found.push_back(name);
  }
  return found;
}

inline size_t count_open_fds() { return list_dir("/proc/self/fd").size(); }

inline std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

}  // namespace grpo_test
