// meta_from_json: every JSON value kind as the meta string the checkers read, null as an absent field.
#include <catch2/catch.hpp>

#include "rewards/meta.h"

using grpo::rewards::meta_from_json;

TEST_CASE("JSON values become meta strings; null is an absent field", "[cpu]") {
  using J = nlohmann::json;
  CHECK(meta_from_json(J("\\frac{1}{2}")) == "\\frac{1}{2}");
  CHECK(meta_from_json(J("")) == "");
  CHECK(meta_from_json(J::parse("[3, 15, 7]")) == "3,15,7");
  CHECK(meta_from_json(J::parse("[3.0, 2.5, -1]")) == "3,2.5,-1");
  CHECK(meta_from_json(J::parse("66")) == "66");
  CHECK(meta_from_json(J::parse("66.0")) == "66");
  CHECK(meta_from_json(J::parse("-4.0")) == "-4");
  CHECK(meta_from_json(J::parse("0.5")) == "0.5");
  CHECK(meta_from_json(J::parse("1e300")) == "1e+300");  // integral but past 2^63: JSON text, no overflow
  CHECK(meta_from_json(J::parse("18446744073709551615")) == "18446744073709551615");
  CHECK(!meta_from_json(J::parse("null")).has_value());
  CHECK(meta_from_json(J::parse("true")) == "true");
  CHECK(meta_from_json(J::parse("[]")) == "[]");
  CHECK(meta_from_json(J::parse("[1, null]")) == "[1,null]");
  CHECK(meta_from_json(J::parse(R"([{"input": "1\n", "output": "2\n"}])")) ==
        R"([{"input":"1\n","output":"2\n"}])");
  // ordered_json keeps the input's key order in JSON text.
  CHECK(meta_from_json(nlohmann::ordered_json::parse(R"({"b": 1, "a": [2, 3]})")) == R"({"b":1,"a":[2,3]})");
  CHECK(!meta_from_json(nlohmann::ordered_json::parse("null")).has_value());
  CHECK(meta_from_json(nlohmann::ordered_json::parse("[3, 15, 7]")) == "3,15,7");
}
