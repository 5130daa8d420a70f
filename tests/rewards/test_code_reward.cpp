// rewards/code/code_reward and harness: program extraction, output normalisation, assert-style tests
// through the trusted harness (values, exceptions, helpers, verdicts), stdin/stdout cases, meta parsing
// and the registry row.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "rewards/code/code_reward.h"
#include "rewards/registry.h"

using grpo::rewards::Meta;
using grpo::rewards::Score;
using grpo::rewards::Verdict;
using grpo::rewards::verdict_name;
using namespace grpo::rewards::code;

namespace {

const char* kAddTests = "def check(candidate):\n    assert candidate(2, 3) == 5\n    assert candidate(-4, 4) == 0\n";

Score call(const std::string& program, const std::string& tests, const std::string& entry = "") {
  return score_code(program, CodeTask{tests, entry, {}}, SandboxConfig{});
}

SandboxConfig limits(double cpu_seconds, double wall_seconds) {
  SandboxConfig cfg;
  cfg.cpu_seconds = cpu_seconds;
  cfg.wall_seconds = wall_seconds;
  return cfg;
}

Score stdio(const std::string& program, std::vector<IoCase> cases) {
  return score_code(program, CodeTask{"", "", std::move(cases)}, SandboxConfig{});
}

}  // namespace

TEST_CASE("code: extract_program takes the last python block, else the whole completion", "[cpu]") {
  CHECK(extract_program("just code\nx = 1\n") == "just code\nx = 1\n");
  CHECK(extract_program("Here:\n```python\na = 1\n```\nand better:\n```py\nb = 2\n```\ndone") == "b = 2\n");
  CHECK(extract_program("```\nplain = 1\n```") == "plain = 1\n");
  CHECK(extract_program("```python\nx = 1\n```\n```text\nnot code\n```\n") == "x = 1\n");
  CHECK(extract_program("```Python3 \nx = 1\n  ```  \n") == "x = 1\n");
  CHECK(extract_program("```python\ns = '```'\nx = 2\n```") == "s = '```'\nx = 2\n");
  CHECK(extract_program("intro\n```python\ntruncated = True\n") == "truncated = True\n");
  CHECK(extract_program("```bash\nls\n```") == "```bash\nls\n```");
  CHECK(extract_program("") == "");
}

TEST_CASE("code: normalize_output drops trailing whitespace per line and trailing newlines", "[cpu]") {
  CHECK(normalize_output("1 2 \r\n3\t\n\n\n") == "1 2\n3");
  CHECK(normalize_output("a") == "a");
  CHECK(normalize_output("  lead\n") == "  lead");
  CHECK(normalize_output("\n\nx\n") == "\n\nx");
  CHECK(normalize_output("") == "");
}

TEST_CASE("code: assert-style tests pass, fail and explain why", "[cpu]") {
  Score ok = call("```python\ndef add(a, b):\n    return a + b\n```", kAddTests, "add");
  CHECK(ok.verdict == Verdict::ok);
  CHECK(ok.value == 1.0);
  CHECK(ok.components.at("correct") == 1.0);

  Score wrong = call("def add(a, b):\n    return a * b\n", kAddTests, "add");
  CHECK(wrong.verdict == Verdict::wrong);
  CHECK(wrong.value == 0.0);
  CHECK_THAT(wrong.detail, Catch::Contains("tests line 2") && Catch::Contains("candidate(2, 3) == 5"));

  Score raised = call("def add(a, b):\n    raise KeyError('boom')\n", kAddTests, "add");
  CHECK(raised.verdict == Verdict::wrong);
  CHECK_THAT(raised.detail, Catch::Contains("KeyError") && Catch::Contains("boom"));

  Score at_import = call("import nonexistent_module_xyz\n", kAddTests, "add");
  CHECK(at_import.verdict == Verdict::wrong);
  CHECK_THAT(at_import.detail, Catch::Contains("while loading") && Catch::Contains("ModuleNotFoundError"));

  Score missing = call("def plus(a, b):\n    return a + b\n", kAddTests, "add");
  CHECK(missing.verdict == Verdict::wrong);
  CHECK_THAT(missing.detail, Catch::Contains("NameError"));

  Score syntax = call("def add(a, b)\n    return a + b\n", kAddTests, "add");
  CHECK(syntax.verdict == Verdict::unparsable);
  CHECK_THAT(syntax.detail, Catch::Contains("SyntaxError"));

  Score bad_tests = call("def add(a, b):\n    return a + b\n", "def check(candidate):\n  assert (\n", "add");
  CHECK(bad_tests.verdict == Verdict::invalid_input);

  Score timeout = score_code("def add(a, b):\n    while True: pass\n", CodeTask{kAddTests, "add", {}},
                             limits(1.0, 1.5));
  CHECK(timeout.verdict == Verdict::timeout);
}

TEST_CASE("code: MBPP-style top-level asserts and helpers taken from the program", "[cpu]") {
  CHECK(call("def sq(x):\n    return x * x\n", "assert sq(3) == 9\nassert sq(-2) == 4\n").verdict == Verdict::ok);
  CHECK(call("def sq(x):\n    return x + x\n", "assert sq(2) == 4\nassert sq(3) == 9\n").verdict == Verdict::wrong);
  // HumanEval/38 style: the tests call a helper defined in the prompt part of the program.
  const std::string program = "def encode(s):\n    return s[::-1]\n\ndef decode(s):\n    return s[::-1]\n";
  const std::string tests = "def check(candidate):\n    for w in ['abc', 'x', '']:\n        assert candidate(encode(w)) == w\n";
  CHECK(call(program, tests, "decode").verdict == Verdict::ok);
  // A module imported only by the program is imported by the harness too (stdlib names only).
  CHECK(call("import math\ndef f():\n    return 2.0\n", "def check(c):\n    assert math.isclose(c(), 2.0)\n", "f").verdict ==
        Verdict::ok);
  // Plain values the program exports can be read by the tests.
  CHECK(call("LIMIT = (1, [2])\n", "assert LIMIT == (1, [2])\n").verdict == Verdict::ok);
}

TEST_CASE("code: entry_point calls check only when the tests define it", "[cpu]") {
  const std::string add = "def add(a, b):\n    return a + b\n";
  const std::string times = "def add(a, b):\n    return a * b\n";
  // MBPP rows carry an entry point beside plain asserts: the asserts run as they are.
  const std::string mbpp = "assert add(2, 3) == 5\nassert add(-4, 4) == 0\n";
  Score ok = call(add, mbpp, "add");
  CHECK(ok.verdict == Verdict::ok);
  INFO(ok.detail);
  Score wrong = call(times, mbpp, "add");
  CHECK(wrong.verdict == Verdict::wrong);
  CHECK_THAT(wrong.detail, Catch::Contains("tests line 1"));
  // HumanEval: check(add) follows the tests, whether check is a def or bound by assignment.
  CHECK(call(add, kAddTests, "add").verdict == Verdict::ok);
  CHECK(call(times, kAddTests, "add").verdict == Verdict::wrong);
  const std::string assigned = "def _check(f):\n    assert f(2, 3) == 5\ncheck = _check\n";
  CHECK(call(add, assigned, "add").verdict == Verdict::ok);
  CHECK(call(times, assigned, "add").verdict == Verdict::wrong);
}

TEST_CASE("code: values and exceptions cross the pipe faithfully", "[cpu]") {
  const std::string program = R"PY(
def f(kind, *args, **kwargs):
    table = {"tuple": (1, 2), "list": [1, 2], "dict": {1: "a", (2, 3): [4]}, "set": {1, 2},
             "frozenset": frozenset({3}), "inf": float("-inf"), "nan": float("nan"), "bytes": b"\x00\xff",
             "big": 10 ** 5000, "bool": True, "none": None, "float": 0.1 + 0.2, "complex": 1 + 2j,
             "nested": {"k": [(1, {2}), None]}, "str": "snow \u2603 \ud800"}
    if kind == "args":
        return [type(a).__name__ for a in args] + sorted(kwargs)
    if kind == "raise":
        raise ValueError("bad input")
    if kind == "custom":
        class Mine(Exception):
            pass
        raise Mine("mine")
    if kind == "object":
        return object()
    return table[kind]
)PY";
  const std::string tests = R"PY(
def check(candidate):
    assert candidate("tuple") == (1, 2) and type(candidate("tuple")) is tuple
    assert candidate("list") == [1, 2] and candidate("list") != (1, 2)
    assert candidate("dict") == {1: "a", (2, 3): [4]}
    assert candidate("set") == {1, 2}
    assert candidate("frozenset") == frozenset({3})
    assert candidate("inf") == float("-inf")
    v = candidate("nan")
    assert v != v
    assert candidate("bytes") == b"\x00\xff"
    assert candidate("big") == 10 ** 5000
    assert candidate("bool") is True
    assert candidate("none") is None
    assert candidate("float") == 0.1 + 0.2
    assert candidate("complex") == 1 + 2j
    assert candidate("nested") == {"k": [(1, {2}), None]}
    assert candidate("str") == "snow \u2603 \ud800"
    assert candidate("args", (1,), [2], {3}, x=1, y={4: 5}) == ["tuple", "list", "set", "x", "y"]
    try:
        candidate("raise")
        assert False, "no exception"
    except ValueError as e:
        assert "bad input" in str(e)
    try:
        candidate("custom")
        assert False
    except Exception as e:
        assert "Mine" in str(e)
    o = candidate("object")
    assert o != candidate("object") and o != 0 and o is not None
)PY";
  Score s = call(program, tests, "f");
  INFO(s.detail);
  CHECK(s.verdict == Verdict::ok);
}

TEST_CASE("code: stdin/stdout cases", "[cpu]") {
  const std::string sum = "a, b = map(int, input().split())\nprint(a + b)\n";
  CHECK(stdio(sum, {{"1 2\n", "3\n"}, {"10 -4", "6"}}).verdict == Verdict::ok);
  // Trailing spaces, CRLF and trailing newlines do not matter; inner whitespace does.
  CHECK(stdio("print('1 2 ')\nprint('3')\nprint()", {{"", "1 2\r\n3"}}).verdict == Verdict::ok);
  CHECK(stdio("print('1  2')", {{"", "1 2"}}).verdict == Verdict::wrong);

  Score wrong = stdio(sum, {{"1 2\n", "3\n"}, {"2 2\n", "5\n"}});
  CHECK(wrong.verdict == Verdict::wrong);
  CHECK_THAT(wrong.detail, Catch::Contains("case 2 of 2") && Catch::Contains("expected \"5\", got \"4\""));

  Score crash = stdio("print(3)\nraise SystemExit(2)\n", {{"1 2\n", "3\n"}});
  CHECK(crash.verdict == Verdict::wrong);
  CHECK_THAT(crash.detail, Catch::Contains("exit status 2"));

  Score runtime = stdio("print(1 / 0)", {{"", "0"}});
  CHECK(runtime.verdict == Verdict::wrong);
  CHECK_THAT(runtime.detail, Catch::Contains("ZeroDivisionError"));

  Score syntax = stdio("print(1", {{"", "1"}});
  CHECK(syntax.verdict == Verdict::unparsable);

  // __name__ is "__main__" for stdin/stdout programs (the usual `if __name__ == "__main__":` guard runs).
  CHECK(stdio("def main():\n    print(input())\nif __name__ == '__main__':\n    main()\n", {{"hi\n", "hi"}}).verdict ==
        Verdict::ok);

  Score slow = score_code("import time\ntime.sleep(100)", CodeTask{"", "", {{"", ""}}}, limits(1.0, 1.0));
  CHECK(slow.verdict == Verdict::timeout);
  Score cpu = score_code("while True: pass", CodeTask{"", "", {{"", ""}}}, limits(1.0, 10.0));
  CHECK(cpu.verdict == Verdict::timeout);
  CHECK_THAT(cpu.detail, Catch::Contains("CPU"));
}

TEST_CASE("code: malformed tasks are invalid_input, empty programs unparsable", "[cpu]") {
  CHECK(score_code("x = 1", CodeTask{}, SandboxConfig{}).verdict == Verdict::invalid_input);
  CHECK(score_code("x = 1", CodeTask{"assert True", "", {{"", ""}}}, SandboxConfig{}).verdict == Verdict::invalid_input);
  CHECK(score_code("x = 1", CodeTask{"assert True", "bad name", {}}, SandboxConfig{}).verdict == Verdict::invalid_input);
  CHECK(score_code("```python\n\n```", CodeTask{"assert True", "", {}}, SandboxConfig{}).verdict == Verdict::unparsable);
  std::string error;
  CHECK_FALSE(parse_code_meta({{"cases", "not json"}}, &error));
  CHECK_THAT(error, Catch::Contains("JSON list"));
  CHECK_FALSE(parse_code_meta({{"cases", R"([{"input": "1"}])"}}, &error));
  CHECK_FALSE(parse_code_meta({}, &error));
  auto task = parse_code_meta({{"cases", R"([{"input": "1 2", "output": "3"}])"}}, &error);
  REQUIRE(task);
  CHECK(task->cases.size() == 1);
  CHECK(task->cases[0].output == "3");
}

TEST_CASE("code: the registry's \"code\" checker reads tests or cases from meta", "[cpu]") {
  auto check = grpo::rewards::find_checker("code");
  Meta tests = {{"tests", kAddTests}, {"entry_point", "add"}};
  CHECK(check("```python\ndef add(a, b):\n    return a + b\n```", tests).verdict == Verdict::ok);
  CHECK(check("def add(a, b):\n    return 0\n", tests).verdict == Verdict::wrong);
  Meta cases = {{"cases", nlohmann::json::array({{{"input", "4\n"}, {"output", "16\n"}}}).dump()}};
  CHECK(check("n = int(input())\nprint(n * n)", cases).verdict == Verdict::ok);
  CHECK(check("print(0)", cases).verdict == Verdict::wrong);
  CHECK(check("print(0)", {{"cases", "[oops"}}).verdict == Verdict::invalid_input);
}
