// Agreement with math-verify on the (gold, prediction) pairs of tests/fixtures/rewards/math_pairs.jsonl
// (scripts/make_math_pairs.py: equivalent rewrites and near misses of every answer in shared/data/math). The gold
// answers are read from shared/data/math by row, as the script's gold_answer() defines them.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <fstream>
#include <map>
#include <sstream>

#include "rewards/math/math_reward.h"
#include "tests/shared_data.h"

namespace {

std::vector<std::string> lines_of(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path + "; hint: the tests read shared/data beside the checkout");
  std::vector<std::string> out;
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) out.push_back(line);
  return out;
}

std::string gold_answer(const std::string& source, const nlohmann::json& row) {
  if (source == "gsm8k_test") {
    std::string a = row.at("answer").get<std::string>();
    a = a.substr(a.rfind("####") + 4);
    std::string out;
    for (char c : a)
      if (c != ',' && !std::isspace(static_cast<unsigned char>(c))) out += c;
    return out;
  }
  const auto& a = row.at("answer");
  if (a.is_string()) return a.get<std::string>();
  if (a.is_number_float() && a.get<double>() == static_cast<double>(static_cast<long long>(a.get<double>())))
    return std::to_string(static_cast<long long>(a.get<double>()));
  return a.dump();
}

}  // namespace

TEST_CASE("math reward agrees with math-verify on at least 99% of 7,500 pairs", "[cpu][math][shared]") {
  GRPO_NEED_SHARED_DATA("math");
  std::map<std::string, std::vector<nlohmann::json>> data;
  for (const char* src : {"math500", "gsm8k_test", "amc23", "aime24"})
    for (const auto& l : lines_of(grpo::test::shared_data_path(std::string("math/") + src + ".jsonl")))
      data[src].push_back(nlohmann::json::parse(l));
  const auto pairs = lines_of(grpo::test::source_path("tests/fixtures/rewards/math_pairs.jsonl"));
  REQUIRE(pairs.size() >= 3000);
  size_t agree = 0, ours_ok = 0, theirs_ok = 0;
  std::map<std::string, int> disagreements;
  for (const auto& l : pairs) {
    const auto p = nlohmann::json::parse(l);
    const std::string src = p.at("source");
    const std::string gold = gold_answer(src, data.at(src).at(p.at("row").get<size_t>()));
    const auto s = grpo::rewards::math::score_math(p.at("completion").get<std::string>(), gold);
    const bool ours = s.verdict == grpo::rewards::Verdict::ok, theirs = p.at("math_verify").get<bool>();
    ours_ok += ours;
    theirs_ok += theirs;
    if (ours == theirs) {
      ++agree;
    } else {
      ++disagreements[p.at("kind").get<std::string>() + (theirs ? " (math-verify: equal)" : " (math-verify: not)")];
      UNSCOPED_INFO("gold '" << gold << "' | " << p.at("completion").get<std::string>() << " | " << s.detail);
    }
  }
  std::ostringstream summary;
  summary << agree << "/" << pairs.size() << " agree; equal: ours " << ours_ok << ", math-verify " << theirs_ok;
  for (const auto& [k, n] : disagreements) summary << "; " << k << ": " << n;
  WARN(summary.str());
  CHECK(static_cast<double>(agree) >= 0.99 * static_cast<double>(pairs.size()));
}
