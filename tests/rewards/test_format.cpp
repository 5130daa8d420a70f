// The format reward and DAPO's overlong penalty against hand cases.
#include <catch2/catch.hpp>

#include "kernels/check.h"
#include "rewards/format.h"

using namespace grpo::rewards;

TEST_CASE("format reward: think block, then exactly one answer", "[cpu]") {
  CHECK(score_format("<think>3+4=7</think><answer>7</answer>").value == 1.0);
  CHECK(score_format("<think>a</think>\n<answer> 7 </answer>\n").verdict == Verdict::ok);
  CHECK(score_format("reasoning opened by the prompt</think> so \\boxed{7}").value == 1.0);
  CHECK(score_format("<think>a</think><answer>7</answer> and more").detail == "text after </answer>");
  CHECK(score_format("<answer>7</answer>").value == 0.0);  // no think block
  CHECK(score_format("<think>a</think><think>b</think><answer>7</answer>").value == 0.0);
  CHECK(score_format("<think>a</think><answer></answer>").detail == "empty <answer>");
  CHECK(score_format("<think>a</think><answer>1</answer><answer>2</answer>").value == 0.0);
  CHECK(score_format("<think>a</think> \\boxed{1} \\boxed{2}").value == 0.0);
  CHECK(score_format("x <think>a</think><answer>7</answer>").value == 0.0);
  FormatConfig no_think;
  no_think.require_think = false;
  CHECK(score_format("<answer>7</answer>", no_think).value == 1.0);
  CHECK(score_format("<think>a</think><answer>7</answer>").components.at("format") == 1.0);
}

TEST_CASE("overlong penalty follows DAPO's soft ramp", "[cpu]") {
  CHECK(overlong_penalty(100, 1000, 200) == 0.0);
  CHECK(overlong_penalty(800, 1000, 200) == 0.0);
  CHECK(overlong_penalty(900, 1000, 200) == Approx(-0.5));
  CHECK(overlong_penalty(1000, 1000, 200) == Approx(-1.0));
  CHECK(overlong_penalty(1001, 1000, 200) == -1.0);
  CHECK(overlong_penalty(1001, 1000, 0) == -1.0);
  CHECK_THROWS_AS(overlong_penalty(10, 100, 200), grpo::Error);
}

TEST_CASE("format without the think block: one closed, non-empty \\boxed{}", "[cpu]") {
  FormatConfig boxed;
  boxed.require_think = false;
  CHECK(score_format("So 3 + 4 = 7. The answer is \\boxed{7}.", boxed).value == 1.0);
  CHECK(score_format("\\boxed{\\frac{1}{2}}", boxed).value == 1.0);  // nested braces
  CHECK(score_format("The answer is 7.", boxed).detail == "no \\boxed{} or <answer>");
  CHECK(score_format("\\boxed{ }", boxed).detail == "empty \\boxed{}");
  CHECK(score_format("\\boxed{7", boxed).detail == "\\boxed{ never closes");
  CHECK(score_format("\\boxed{\\frac{1}{2}", boxed).detail == "\\boxed{ never closes");
  CHECK(score_format("\\boxed{6} or \\boxed{7}", boxed).value == 0.0);
  CHECK(score_format("<think>a</think> \\boxed{}").value == 0.0);  // the think form checks the box too
}
