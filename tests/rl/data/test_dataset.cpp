// Dataset files: JSONL and JSON arrays read with their origins; every malformed input stops with one line naming
// the file and line (or element); dotted paths reach nested fields and null counts as absent.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "kernels/check.h"
#include "tests/temp_dir.h"
#include "rl/data/dataset.h"

using namespace grpo::rl::data;
namespace fs = std::filesystem;

namespace {

using TempDir = grpo::test::TempDir;

}  // namespace

TEST_CASE("JSONL and JSON-array datasets read with their origins", "[cpu]") {
  TempDir t;
  auto rows = read_records(t.file("a.jsonl", "{\"q\": \"one\"}\n\n  \r\n{\"q\": \"two\", \"n\": {\"x\": 3}}\n"));
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].fields["q"] == "one");
  CHECK(rows[1].origin == (t.path / "a.jsonl").string() + ":4");
  auto arr = read_records(t.file("b.json", "\n [ {\"q\": 1}, {\"q\": 2} ]"));
  REQUIRE(arr.size() == 2);
  CHECK(arr[1].origin.find("element 1") != std::string::npos);
}

TEST_CASE("malformed datasets stop naming the file and line", "[cpu]") {
  TempDir t;
  const std::string bad = t.file("bad.jsonl", "{\"q\": 1}\n{\"q\": 2\n");
  CHECK_THROWS_WITH(read_records(bad), Catch::Contains(bad + ":2") && Catch::Contains("not JSON"));
  const std::string arr = t.file("arr.jsonl", "{\"q\": 1}\n[1, 2]\n");
  CHECK_THROWS_WITH(read_records(arr), Catch::Contains(arr + ":2") && Catch::Contains("an array"));
  const std::string str = t.file("str.jsonl", "\"text\"\n");
  CHECK_THROWS_WITH(read_records(str), Catch::Contains(str + ":1") && Catch::Contains("a string"));
  const std::string empty = t.file("empty.jsonl", "\n\n");
  CHECK_THROWS_WITH(read_records(empty), Catch::Contains(empty) && Catch::Contains("no records"));
  const std::string elem = t.file("elem.json", "[{\"q\": 1}, 7]");
  CHECK_THROWS_WITH(read_records(elem), Catch::Contains("element 1") && Catch::Contains("a number"));
  const std::string trunc = t.file("trunc.json", "[{\"q\": 1}, {\"q\"");
  CHECK_THROWS_WITH(read_records(trunc), Catch::Contains(trunc) && Catch::Contains("not a JSON array"));
  CHECK_THROWS_WITH(read_records((t.path / "missing.jsonl").string()), Catch::Contains("missing.jsonl") &&
                                                                          Catch::Contains("not found"));
}

TEST_CASE("dotted paths, null as absent, normalised text", "[cpu]") {
  const nlohmann::json r = {{"reward_model", {{"ground_truth", "42"}, {"style", nullptr}}},
                            {"a.b", 1},
                            {"answer", nullptr}};
  REQUIRE(find_field(r, "reward_model.ground_truth") != nullptr);
  CHECK(*find_field(r, "reward_model.ground_truth") == "42");
  CHECK(find_field(r, "reward_model.style") == nullptr);
  CHECK(find_field(r, "answer") == nullptr);
  CHECK(find_field(r, "reward_model.nope") == nullptr);
  CHECK(find_field(r, "a.b") != nullptr);  // a key holding a dot, verbatim
  CHECK(normalize_text("  What is\n 2 +\t2?  ") == "what is 2 + 2?");
}
