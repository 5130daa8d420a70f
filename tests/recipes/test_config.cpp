// Tests for recipes/config: TOML files and overrides into bound fields, strict types, one-line
// errors naming the key, and the to_toml -> load round trip. Fields here are stand-ins, not the
// real component configs.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "kernels/check.h"
#include "recipes/config.h"
#include "tests/shared_data.h"

using grpo::recipes::ConfigSchema;
using Catch::Contains;

namespace {

struct Fields {
  std::string name = "run";
  int64_t seed = 1;
  double lr = 1e-6;
  float temperature = 1.0f;
  int group_size = 8;
  bool dynamic_sampling = false;
  std::vector<int64_t> sizes = {3, 4};
  std::string model_path = "models/tiny";
};

void bind(ConfigSchema& s, Fields& f) {
  s.add("name", &f.name, "run name; the run directory is runs/<name>");
  s.add("seed", &f.seed, "global random seed");
  s.add("rl.lr", &f.lr, "learning rate, per step");
  s.add("rl.group_size", &f.group_size, "completions per prompt (G); GRPO");
  s.add("rl.dynamic_sampling", &f.dynamic_sampling, "drop zero-variance groups; DAPO");
  s.add("rollout.temperature", &f.temperature, "sampling temperature");
  s.add("task.sizes", &f.sizes, "numbers per Countdown problem");
  s.add("model.path", &f.model_path, "Hugging Face checkpoint directory");
}

std::string write_temp(const std::string& name, const std::string& text) {
  std::string path = grpo::test::binary_dir() + "/" + name;
  std::ofstream(path) << text;
  return path;
}

}  // namespace

TEST_CASE("absent keys keep their defaults", "[cpu]") {
  Fields f;
  ConfigSchema s;
  bind(s, f);
  s.load_toml_string("seed = 7\n", "x.toml");
  Fields d;
  CHECK(f.seed == 7);
  CHECK(f.name == d.name);
  CHECK(f.lr == d.lr);
  CHECK(f.temperature == d.temperature);
  CHECK(f.group_size == d.group_size);
  CHECK(f.dynamic_sampling == d.dynamic_sampling);
  CHECK(f.sizes == d.sizes);
  CHECK(f.model_path == d.model_path);
  CHECK(s.has_key("rl.lr"));
  CHECK_FALSE(s.has_key("rl"));
  CHECK_FALSE(s.has_key("lr"));
}

TEST_CASE("TOML tables and dotted keys name the same key", "[cpu]") {
  Fields a, b, c;
  ConfigSchema sa, sb, sc;
  bind(sa, a);
  bind(sb, b);
  bind(sc, c);
  sa.load_toml_string("[rl]\nlr = 1e-4\ngroup_size = 16\n[task]\nsizes = [5]\n", "a.toml");
  sb.load_toml_string("rl.lr = 1e-4\nrl.group_size = 16\ntask.sizes = [5]\n", "b.toml");
  sc.load_toml_string("rl = { lr = 1e-4, group_size = 16 }\n[task]\nsizes = [5]\n", "c.toml");
  for (const Fields* f : {&a, &b, &c}) {
    CHECK(f->lr == 1e-4);
    CHECK(f->group_size == 16);
    CHECK(f->sizes == std::vector<int64_t>{5});
  }
  // An empty table for a known group is fine.
  sa.load_toml_string("[rl]\n", "d.toml");
  CHECK(a.lr == 1e-4);
}

TEST_CASE("overrides of every type", "[cpu]") {
  Fields f;
  ConfigSchema s;
  bind(s, f);
  s.apply_overrides({"name=\"quoted name\"", "seed=-42", "rl.lr=3e-7", "rl.group_size=4",
                     "rl.dynamic_sampling=true", "rollout.temperature=0.7", "task.sizes=[1, 2,3]",
                     "model.path=/a/b c/d=e"});
  CHECK(f.name == "quoted name");
  CHECK(f.seed == -42);
  CHECK(f.lr == 3e-7);
  CHECK(f.group_size == 4);
  CHECK(f.dynamic_sampling);
  CHECK(f.temperature == 0.7f);
  CHECK(f.sizes == std::vector<int64_t>{1, 2, 3});
  CHECK(f.model_path == "/a/b c/d=e");  // split at the first '='

  s.apply_override("name=bare");
  CHECK(f.name == "bare");
  s.apply_override("name=123");  // bare text stays text for a string field
  CHECK(f.name == "123");
  s.apply_override("name='literal'");
  CHECK(f.name == "literal");
  s.apply_override("rl.lr=2");  // an integer is a fine float
  CHECK(f.lr == 2.0);
  s.apply_override("task.sizes=[]");
  CHECK(f.sizes.empty());
  s.apply_override(" seed = 5 ");
  CHECK(f.seed == 5);

  s.apply_overrides({"rl.group_size=2", "rl.group_size=32"});  // the last wins
  CHECK(f.group_size == 32);
  // Overrides win over the file when applied after it.
  s.load_toml_string("rl.group_size = 6\n", "x.toml");
  s.apply_override("rl.group_size=12");
  CHECK(f.group_size == 12);
}

TEST_CASE("malformed overrides name the argument", "[cpu]") {
  Fields f;
  ConfigSchema s;
  bind(s, f);
  REQUIRE_THROWS_WITH(s.apply_override("rl.lr"), Contains("override 'rl.lr' has no '='"));
  REQUIRE_THROWS_WITH(s.apply_override("=3"), Contains("override '=3' has no key"));
  REQUIRE_THROWS_WITH(s.apply_override("rl.lr=abc"),
                      Contains("key 'rl.lr' expects a value of type float, got 'abc'"));
  REQUIRE_THROWS_WITH(s.apply_override("rl.lr="), Contains("key 'rl.lr'"));
  REQUIRE_THROWS_WITH(s.apply_override("seed=1\nname=2"), Contains("key 'seed'"));
  REQUIRE_THROWS_WITH(s.apply_override("name=\"unterminated"), Contains("key 'name'"));
  CHECK(f.seed == 1);
  CHECK(f.name == "run");
}

TEST_CASE("unknown keys are named with a suggestion", "[cpu]") {
  Fields f;
  ConfigSchema s;
  bind(s, f);
  REQUIRE_THROWS_WITH(s.load_toml_string("[rl]\nlrr = 1e-4\n", "recipes/x.toml"),
                      Contains("unknown key 'rl.lrr' in recipes/x.toml:2; did you mean 'rl.lr'?"));
  REQUIRE_THROWS_WITH(s.load_toml_string("[rll]\nlr = 1\n", "recipes/x.toml"),
                      Contains("unknown key 'rll.lr' in recipes/x.toml:2; did you mean 'rl.lr'?"));
  REQUIRE_THROWS_WITH(s.load_toml_string("group_size = 4\n", "recipes/x.toml"),
                      Contains("did you mean 'rl.group_size'?"));
  REQUIRE_THROWS_WITH(s.load_toml_string("[nothing_alike]\n", "recipes/x.toml"),
                      Contains("unknown key 'nothing_alike' in recipes/x.toml:1; run `grpo help`"));
  REQUIRE_THROWS_WITH(s.apply_override("rollout.temprature=0.7"),
                      Contains("unknown key 'rollout.temprature' on the command line; did you mean "
                               "'rollout.temperature'?"));
  REQUIRE_THROWS_WITH(s.apply_override("completely_different=1"),
                      Contains("unknown key 'completely_different' on the command line; run `grpo "
                               "help`"));
  REQUIRE_THROWS_WITH(s.apply_override("rl=3"), Contains("key 'rl' on the command line is a group"));
  REQUIRE_THROWS_WITH(s.load_toml_string("rl = 3\n", "x.toml"), Contains("key 'rl' in x.toml:1"));
}

TEST_CASE("wrong types name the key", "[cpu]") {
  Fields f;
  ConfigSchema s;
  bind(s, f);
  auto load = [&](const std::string& text) { s.load_toml_string(text, "recipes/x.toml"); };
  // int field
  REQUIRE_THROWS_WITH(load("rl.group_size = 2.5"),
                      Contains("key 'rl.group_size' expects an integer, got 2.5 (in "
                               "recipes/x.toml:1)"));
  REQUIRE_THROWS_WITH(load("rl.group_size = \"4\""),
                      Contains("key 'rl.group_size' expects an integer, got \"4\""));
  REQUIRE_THROWS_WITH(load("rl.group_size = true"),
                      Contains("key 'rl.group_size' expects an integer, got true"));
  REQUIRE_THROWS_WITH(load("rl.group_size = [4]"),
                      Contains("key 'rl.group_size' expects an integer, got an array"));
  REQUIRE_THROWS_WITH(load("[rl.group_size]\nx = 1"),
                      Contains("key 'rl.group_size' expects an integer, got a table"));
  REQUIRE_THROWS_WITH(s.apply_override("rl.group_size=3.0"),
                      Contains("key 'rl.group_size' expects an integer, got 3.0 (on the command "
                               "line)"));
  // int64 field
  REQUIRE_THROWS_WITH(load("seed = 1.0"), Contains("key 'seed' expects an integer, got 1.0"));
  // float fields
  REQUIRE_THROWS_WITH(load("rl.lr = \"1e-4\""), Contains("key 'rl.lr' expects a number"));
  REQUIRE_THROWS_WITH(load("rollout.temperature = false"),
                      Contains("key 'rollout.temperature' expects a number, got false"));
  // bool field
  REQUIRE_THROWS_WITH(load("rl.dynamic_sampling = \"true\""),
                      Contains("key 'rl.dynamic_sampling' expects true or false, got \"true\""));
  REQUIRE_THROWS_WITH(load("rl.dynamic_sampling = 1"),
                      Contains("key 'rl.dynamic_sampling' expects true or false, got 1"));
  REQUIRE_THROWS_WITH(s.apply_override("rl.dynamic_sampling=yes"),
                      Contains("key 'rl.dynamic_sampling'"));
  // string fields
  REQUIRE_THROWS_WITH(load("name = 3"), Contains("key 'name' expects a string, got 3"));
  REQUIRE_THROWS_WITH(load("model.path = [\"a\"]"),
                      Contains("key 'model.path' expects a string, got an array"));
  // int array field
  REQUIRE_THROWS_WITH(load("task.sizes = 3"),
                      Contains("key 'task.sizes' expects an array of integers, got 3"));
  REQUIRE_THROWS_WITH(s.apply_override("task.sizes=[1, 2.5]"),
                      Contains("key 'task.sizes' expects an array of integers, got 2.5 at index 1"));
  // Nothing above changed a field.
  Fields d;
  CHECK(f.group_size == d.group_size);
  CHECK(f.sizes == d.sizes);
  CHECK(f.name == d.name);
}

TEST_CASE("integer overflow and range are errors", "[cpu]") {
  Fields f;
  ConfigSchema s;
  bind(s, f);
  REQUIRE_THROWS_WITH(s.apply_override("rl.group_size=3000000000"),
                      Contains("key 'rl.group_size' expects an integer in [-2147483648, "
                               "2147483647], got 3000000000"));
  REQUIRE_THROWS_WITH(s.load_toml_string("rl.group_size = -2147483649", "x.toml"),
                      Contains("key 'rl.group_size' expects an integer in"));
  REQUIRE_THROWS_WITH(s.apply_override("seed=1e30"),
                      Contains("key 'seed' expects an integer, got 1e30"));
  REQUIRE_THROWS_WITH(s.apply_override("seed=99999999999999999999"), Contains("key 'seed'"));
  REQUIRE_THROWS_WITH(s.load_toml_string("seed = 99999999999999999999", "x.toml"),
                      Contains("TOML syntax error in x.toml:1"));
  REQUIRE_THROWS_WITH(s.apply_override("rollout.temperature=1e39"),
                      Contains("key 'rollout.temperature' expects a number in 32-bit float range"));
  s.apply_override("rl.group_size=2147483647");
  CHECK(f.group_size == 2147483647);
  s.apply_override("seed=-9223372036854775808");
  CHECK(f.seed == std::numeric_limits<int64_t>::min());
  s.apply_override("rl.lr=1e300");  // fine for a double
  CHECK(f.lr == 1e300);
}

TEST_CASE("files: missing path and syntax errors are named", "[cpu]") {
  Fields f;
  ConfigSchema s;
  bind(s, f);
  REQUIRE_THROWS_WITH(s.load_toml_file("recipes/does_not_exist.toml"),
                      Contains("config file 'recipes/does_not_exist.toml' not found"));
  REQUIRE_THROWS_WITH(s.load_toml_file(grpo::test::binary_dir()), Contains("not found"));
  std::string bad = write_temp("test_config_bad.toml", "seed = 3\n[rl\nlr = 1\n");
  REQUIRE_THROWS_WITH(s.load_toml_file(bad), Contains("TOML syntax error in " + bad + ":2:"));
  std::string dup = write_temp("test_config_dup.toml", "seed = 3\nseed = 4\n");
  REQUIRE_THROWS_WITH(s.load_toml_file(dup), Contains("TOML syntax error in " + dup + ":2:"));
  std::string good = write_temp("test_config_good.toml", "name = \"from file\"\n[rl]\nlr = 0.5\n");
  s.load_toml_file(good);
  CHECK(f.name == "from file");
  CHECK(f.lr == 0.5);
  std::remove(bad.c_str());
  std::remove(dup.c_str());
  std::remove(good.c_str());
}

TEST_CASE("errors are one line ending with a hint", "[cpu]") {
  Fields f;
  ConfigSchema s;
  bind(s, f);
  for (const char* arg : {"rl.lrr=1", "rl.lr=x", "task.sizes=[1,\"a\"]", "nokey"}) {
    try {
      s.apply_override(arg);
      FAIL("no error for " << arg);
    } catch (const grpo::Error& e) {
      std::string msg = e.what();
      CHECK(msg.find('\n') == std::string::npos);
      CHECK(msg.find(';') != std::string::npos);  // "...; <hint>"
    }
  }
}

TEST_CASE("to_toml round-trips every field type exactly", "[cpu]") {
  Fields f;
  f.name = "quote \" backslash \\ tab\t newline\n unicode \xc3\xa9";
  f.seed = -1234567890123LL;
  f.group_size = -7;
  f.dynamic_sampling = true;
  f.sizes = {-1, 0, std::numeric_limits<int64_t>::max()};
  f.model_path = "";
  for (double lr : {0.1, 1e-4, 3e-7, -2.5, 1.0 / 3.0, 1e300, 5e-324, 0.0, 123456789.0}) {
    for (float t : {0.7f, 1.0f, 1e-30f, 0.1f, -std::numeric_limits<float>::max(),
                    std::numeric_limits<float>::denorm_min()}) {
      f.lr = lr;
      f.temperature = t;
      ConfigSchema s;
      bind(s, f);
      std::string text = s.to_toml();
      Fields g;
      g.sizes = {9};
      ConfigSchema r;
      bind(r, g);
      r.load_toml_string(text, "round_trip.toml");
      CHECK(g.name == f.name);
      CHECK(g.seed == f.seed);
      CHECK(g.lr == f.lr);
      CHECK(g.temperature == f.temperature);
      CHECK(g.group_size == f.group_size);
      CHECK(g.dynamic_sampling == f.dynamic_sampling);
      CHECK(g.sizes == f.sizes);
      CHECK(g.model_path == f.model_path);
      CHECK(r.to_toml() == text);
    }
  }
  f.lr = std::numeric_limits<double>::infinity();
  f.temperature = std::numeric_limits<float>::quiet_NaN();
  ConfigSchema s;
  bind(s, f);
  Fields g;
  ConfigSchema r;
  bind(r, g);
  r.load_toml_string(s.to_toml(), "round_trip.toml");
  CHECK(std::isinf(g.lr));
  CHECK(std::isnan(g.temperature));
}

TEST_CASE("to_toml is grouped, commented and prints short floats", "[cpu]") {
  Fields f;
  f.lr = 1e-4;
  f.temperature = 0.7f;
  ConfigSchema s;
  bind(s, f);
  std::string text = s.to_toml();
  CHECK_THAT(text, Contains("lr = 1e-4"));
  CHECK_THAT(text, Contains("temperature = 0.7 "));
  CHECK_THAT(text, Contains("# learning rate, per step"));
  CHECK_THAT(text, Contains("sizes = [3, 4]"));
  CHECK_THAT(text, Contains("dynamic_sampling = false"));
  // Top-level keys come before any table, each table appears once.
  CHECK(text.find("name = \"run\"") < text.find("[rl]"));
  CHECK(text.find("seed = 1 ") < text.find("[rl]"));
  CHECK(text.find("[rl]") == text.rfind("[rl]"));
  CHECK(text.find("[rl]") < text.find("[rollout]"));
  f.temperature = 2.0f;
  f.lr = 123456789.0;
  CHECK_THAT(s.to_toml(), Contains("temperature = 2.0 "));
  CHECK_THAT(s.to_toml(), Contains("lr = 123456789.0 "));
  f.lr = 0.1;
  CHECK_THAT(s.to_toml(), Contains("lr = 0.1 "));
  f.lr = 3e-7;
  CHECK_THAT(s.to_toml(), Contains("lr = 3e-7 "));
  f.lr = 1e30;
  CHECK_THAT(s.to_toml(), Contains("lr = 1e30 "));
  f.lr = 1.0 / 3.0;
  CHECK_THAT(s.to_toml(), Contains("lr = 0.3333333333333333 "));
}

TEST_CASE("help lists every key with type and default", "[cpu]") {
  Fields f;
  ConfigSchema s;
  bind(s, f);
  f.group_size = 99;  // help shows the default at add(), not the current value
  std::string help = s.help();
  for (const char* key : {"name", "seed", "rl.lr", "rl.group_size", "rl.dynamic_sampling",
                          "rollout.temperature", "task.sizes", "model.path"}) {
    CHECK_THAT(help, Contains(key));
  }
  CHECK_THAT(help, Contains("1e-6"));
  CHECK_THAT(help, Contains("int[]"));
  CHECK_THAT(help, Contains("completions per prompt (G); GRPO"));
  CHECK_THAT(help, Contains(" 8 "));
  CHECK_THAT(help, !Contains("99"));
}

TEST_CASE("validate runs the checks", "[cpu]") {
  Fields f;
  ConfigSchema s;
  bind(s, f);
  int runs = 0;
  s.add_check([&] {
    ++runs;
    GRPO_CHECK(f.lr > 0, "rl.lr must be > 0, got ", f.lr, "; set rl.lr=1e-6");
  });
  s.validate();
  CHECK(runs == 1);
  s.apply_override("rl.lr=-1");
  REQUIRE_THROWS_WITH(s.validate(), Contains("rl.lr must be > 0, got -1"));
  CHECK(runs == 2);
}

TEST_CASE("schema misuse is caught at add()", "[cpu]") {
  Fields f;
  ConfigSchema s;
  bind(s, f);
  int x = 0;
  REQUIRE_THROWS_WITH(s.add("rl.lr", &x, "again"), Contains("'rl.lr' is registered twice"));
  REQUIRE_THROWS_WITH(s.add("rl", &x, "group"), Contains("'rl' is registered twice"));
  REQUIRE_THROWS_WITH(s.add("seed.low", &x, "under a value"), Contains("nests under the value"));
  REQUIRE_THROWS_WITH(s.add("Bad Key", &x, "h"), Contains("config key 'Bad Key' is malformed"));
  REQUIRE_THROWS_WITH(s.add("rl.", &x, "h"), Contains("is malformed"));
  REQUIRE_THROWS_WITH(s.add("rl.x", &x, ""), Contains("'rl.x' needs one line of help"));
  CHECK_FALSE(s.has_key("rl.x"));
}

TEST_CASE("string arrays: file, override, wrong types, round trip", "[cpu]") {
  std::vector<std::string> stop = {"</answer>"};
  ConfigSchema s;
  s.add("rollout.stop", &stop, "stop tokens");
  s.load_toml_string("[rollout]\nstop = [\"a\", \"<b>\"]\n", "x.toml");
  CHECK(stop == std::vector<std::string>{"a", "<b>"});
  s.apply_override("rollout.stop=[]");
  CHECK(stop.empty());
  s.apply_override("rollout.stop=[\"</answer>\", \"q\\\"uote\"]");
  CHECK(stop == std::vector<std::string>{"</answer>", "q\"uote"});
  REQUIRE_THROWS_WITH(s.apply_override("rollout.stop=[1]"), Contains("'rollout.stop'") && Contains("index 0"));
  REQUIRE_THROWS_WITH(s.load_toml_string("rollout.stop = \"x\"\n", "y.toml"),
                      Contains("'rollout.stop'") && Contains("array of strings"));
  std::vector<std::string> saved = stop;
  s.load_toml_string(s.to_toml(), "round trip");
  CHECK(stop == saved);
}

TEST_CASE("name -> float tables: file, inline, one entry on the command line, wrong types, round trip", "[cpu]") {
  std::map<std::string, double> weights = {{"math", 1.0}};
  ConfigSchema s;
  s.add("reward.weights", &weights, "reward components and weights");
  s.load_toml_string("[reward.weights]\nmath = 1\nformat = 0.1\n", "x.toml");
  CHECK(weights == std::map<std::string, double>{{"format", 0.1}, {"math", 1.0}});
  s.load_toml_string("reward.weights = { countdown = 2.5 }\n", "y.toml");
  CHECK(weights == std::map<std::string, double>{{"countdown", 2.5}});
  s.apply_override("reward.weights={math=1,format=0.1}");
  CHECK(weights == std::map<std::string, double>{{"format", 0.1}, {"math", 1.0}});
  s.apply_override("reward.weights.format=0.25");
  s.apply_override("reward.weights.overlong=1");
  CHECK(weights == std::map<std::string, double>{{"format", 0.25}, {"math", 1.0}, {"overlong", 1.0}});
  REQUIRE_THROWS_WITH(s.load_toml_string("[reward.weights]\nmath = \"high\"\n", "z.toml"),
                      Contains("'reward.weights.math'") && Contains("a number") && Contains("z.toml:2"));
  REQUIRE_THROWS_WITH(s.apply_override("reward.weights.math=high"),
                      Contains("'reward.weights.math'") && Contains("a number"));
  REQUIRE_THROWS_WITH(s.load_toml_string("reward.weights = 3\n", "w.toml"),
                      Contains("'reward.weights'") && Contains("table of numbers"));
  std::map<std::string, double> saved = weights;
  const std::string toml = s.to_toml();
  CHECK(toml.find("weights = { format = 0.25, math = 1.0, overlong = 1.0 }") != std::string::npos);
  weights.clear();
  s.load_toml_string(toml, "round trip");
  CHECK(weights == saved);
}
