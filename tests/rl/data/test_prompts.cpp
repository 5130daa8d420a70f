// Presets, templates and prompt rendering: each preset reads the fields its format has (GSM8K's gold after ####,
// HumanEval's tests, TRL's plain-string prompts without a chat template, verl's nested ground truth); templates
// fill {field}s and keep other braces; missing fields stop naming the record and the field; long prompts are
// dropped with a count, eval prompts seen in training are reported.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "kernels/check.h"
#include "policy/tokenizer/char_tokenizer.h"
#include "rl/data/prompts.h"
#include "rl/data/task_data.h"
#include "tests/temp_dir.h"

using namespace grpo;
using namespace grpo::rl::data;
namespace fs = std::filesystem;

namespace {

const policy::CharTokenizer& tokenizer() {
  static const policy::CharTokenizer tok({"<|im_start|>", "<|im_end|>"});
  return tok;
}

Record rec(nlohmann::json fields, std::string origin = "d.jsonl:3") { return {std::move(fields), std::move(origin)}; }

rollout::Prompt render(const PromptConfig& cfg, const Record& r, policy::ChatTemplate chat = policy::ChatTemplate::kPlain) {
  return PromptRenderer(cfg, tokenizer(), chat).render(r, 0);
}

}  // namespace

TEST_CASE("presets read the fields of their formats", "[cpu]") {
  PromptConfig cfg;
  cfg.preset = "gsm8k";
  auto p = render(cfg, rec({{"question", "How many?"}, {"answer", "2 + 2 = 4\n#### 1,234"}}));
  CHECK(p.text == "How many?");
  CHECK(p.meta.at("answer") == "1234");
  CHECK_THROWS_WITH(render(cfg, rec({{"question", "q"}, {"answer", "no hashes"}})),
                    Catch::Contains("d.jsonl:3") && Catch::Contains("####"));
  cfg.preset = "math";
  CHECK(render(cfg, rec({{"problem", "p"}, {"answer", 27.0}})).meta.at("answer") == "27");
  CHECK(render(cfg, rec({{"problem", "p"}, {"answer", "\\frac{1}{2}"}})).meta.at("answer") == "\\frac{1}{2}");
  cfg.preset = "humaneval";
  auto h = render(cfg, rec({{"prompt", "def f():\n"}, {"test", "def check(c): pass"}, {"entry_point", "f"}}));
  CHECK(h.meta.at("tests") == "def check(c): pass");
  CHECK(h.meta.at("entry_point") == "f");
  CHECK(h.meta.count("answer") == 0);
  cfg.preset = "verl";
  auto v = render(cfg, rec({{"data_source", "gsm8k"},
                            {"prompt", {{{"role", "user"}, {"content", "Q?"}}}},
                            {"reward_model", {{"ground_truth", "7"}, {"style", "rule"}}},
                            {"extra_info", {{"index", 3}}}}),
                  policy::ChatTemplate::kQwen25);
  CHECK(v.meta.at("answer") == "7");
  CHECK(v.meta.at("data_source") == "gsm8k");
  CHECK(v.meta.at("extra_info.index") == "3");
  CHECK(v.text.find("<|im_start|>user\nQ?<|im_end|>") != std::string::npos);
  cfg.preset = "countdown";
  auto c = render(cfg, rec({{"numbers", {19, 36, 55, 7}}, {"target", 65}}));
  CHECK(c.text.find("Using the numbers [19, 36, 55, 7], create an equation that equals 65.") == 0);
  CHECK(c.meta.at("numbers") == "19,36,55,7");
  // TinyZero's dataset files name the list "nums".
  auto tz = render(cfg, rec({{"nums", {3, 5}}, {"target", 8}}));
  CHECK(tz.text.find("Using the numbers [3, 5], create an equation that equals 8.") == 0);
  CHECK(tz.meta.at("numbers") == "3,5");
  cfg.preset = "alpaca";
  CHECK_THROWS_WITH(render(cfg, rec({})), Catch::Contains("alpaca") && Catch::Contains("gsm8k"));
}

TEST_CASE("TRL's layout: a string prompt skips the chat template, messages use it", "[cpu]") {
  PromptConfig cfg;
  cfg.preset = "trl";
  auto s = render(cfg, rec({{"prompt", "2+2="}, {"solution", "4"}}), policy::ChatTemplate::kQwen25);
  CHECK(s.text == "2+2=");
  CHECK(s.meta.at("answer") == "4");
  // TRL's datasets keep a worked solution there: the gold is its last \boxed{} (nested braces kept).
  auto w = render(cfg, rec({{"prompt", "x"}, {"solution", "First \\boxed{1}, then \\boxed{\\frac{1}{2}}."}}));
  CHECK(w.meta.at("answer") == "\\frac{1}{2}");
  CHECK(last_boxed("\\boxed{a{b}") == std::nullopt);
  CHECK(last_boxed("no box") == std::nullopt);
  auto m = render(cfg, rec({{"prompt", {{{"role", "user"}, {"content", "2+2="}}}}, {"solution", "4"}}),
                  policy::ChatTemplate::kQwen25);
  CHECK(m.text.find("<|im_start|>user\n2+2=<|im_end|>\n<|im_start|>assistant\n") != std::string::npos);
}

TEST_CASE("templates, system prompts and chat templates", "[cpu]") {
  CHECK(fill_template("{q} within \\boxed{}. {{x}} {n.a}", {{"q", "Solve"}, {"n", {{"a", true}}}}, "o") ==
        "Solve within \\boxed{}. {x} True");
  CHECK_THROWS_WITH(fill_template("{nope}", nlohmann::json::object(), "f.jsonl:9"),
                    Catch::Contains("f.jsonl:9") && Catch::Contains("'nope'"));
  PromptConfig cfg;
  cfg.prompt_template = "{prompt}\nAnswer in \\boxed{}.";
  cfg.system_prompt = "Be brief.";
  auto p = render(cfg, rec({{"prompt", "1+1?"}, {"answer", "2"}}), policy::ChatTemplate::kQwen25);
  CHECK(p.text == "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n1+1?\nAnswer in \\boxed{}.<|im_end|>\n"
                  "<|im_start|>assistant\n");
  CHECK(p.token_ids == tokenizer().encode(p.text));
  // Without a chat template the system prompt, a blank line, then the text.
  CHECK(render(cfg, rec({{"prompt", "1+1?"}, {"answer", "2"}})).text == "Be brief.\n\n1+1?\nAnswer in \\boxed{}.");
  // A conversation needs a chat template.
  PromptConfig chat;
  auto conv = rec({{"prompt", {{{"role", "user"}, {"content", "a"}}, {{"role", "assistant"}, {"content", "b"}},
                                {{"role", "user"}, {"content", "c"}}}},
                   {"answer", "x"}});
  CHECK_THROWS_WITH(render(chat, conv), Catch::Contains("d.jsonl:3") && Catch::Contains("conversation of 3 turns"));
  // One user message in a list, with a system prompt, is one text.
  PromptConfig one = chat;
  one.system_prompt = "S";
  CHECK(render(one, rec({{"prompt", {{{"role", "user"}, {"content", "q"}}}}, {"answer", "x"}})).text == "S\n\nq");
  CHECK_NOTHROW(render(chat, conv, policy::ChatTemplate::kQwen25));
}

TEST_CASE("missing or malformed fields stop naming the record and the field", "[cpu]") {
  PromptConfig cfg;
  CHECK_THROWS_WITH(render(cfg, rec({{"question", "q"}, {"answer", "1"}})),
                    Catch::Contains("d.jsonl:3") && Catch::Contains("'prompt'") && Catch::Contains("data.prompt_field"));
  CHECK_THROWS_WITH(render(cfg, rec({{"prompt", "q"}})),
                    Catch::Contains("d.jsonl:3") && Catch::Contains("'answer'") && Catch::Contains("data.answer_field"));
  CHECK_THROWS_WITH(render(cfg, rec({{"prompt", "q"}, {"answer", nullptr}})), Catch::Contains("'answer'"));
  CHECK_THROWS_WITH(render(cfg, rec({{"prompt", 3}, {"answer", "1"}})), Catch::Contains("string or a list"));
  CHECK_THROWS_WITH(render(cfg, rec({{"prompt", {{{"content", "x"}}}}, {"answer", "1"}}), policy::ChatTemplate::kQwen25),
                    Catch::Contains("d.jsonl:3") && Catch::Contains("role"));
  cfg.answer_field = "none";
  CHECK(render(cfg, rec({{"prompt", "q"}})).meta.count("answer") == 0);
}

TEST_CASE("TaskData drops long prompts with a count and reports eval prompts seen in training", "[cpu]") {
  grpo::test::TempDir tmp("grpo_taskdata");
  const fs::path dir = tmp.path;
  std::ofstream(dir / "train.jsonl") << "{\"prompt\": \"short one\", \"answer\": \"1\"}\n"
                                     << "{\"prompt\": \"" << std::string(80, 'x') << "\", \"answer\": \"2\"}\n"
                                     << "{\"prompt\": \"Shared   Question\", \"answer\": \"3\"}\n";
  std::ofstream(dir / "test.jsonl") << "{\"prompt\": \"shared question\", \"answer\": \"3\"}\n"
                                    << "{\"prompt\": \"new one\", \"answer\": \"4\"}\n";
  DataConfig cfg;
  cfg.train = {(dir / "train.jsonl").string()};
  cfg.eval = {(dir / "test.jsonl").string()};
  cfg.prompt.max_prompt_tokens = 40;
  TaskData data(cfg, tokenizer(), policy::ChatTemplate::kPlain);
  CHECK(data.train_size() == 2);
  CHECK(data.longest_prompt() == 17);
  REQUIRE(data.report().size() == 2);
  CHECK(data.report()[0].find("1 dropped") != std::string::npos);
  CHECK(data.report()[1].find("1 also in the training set") != std::string::npos);
  REQUIRE(data.eval_sets().size() == 1);
  CHECK(data.eval_sets()[0].name == "test");
  CHECK(data.eval_sets()[0].prompts.size() == 2);
  // SFT needs responses.
  CHECK_THROWS_WITH(data.check_responses(), Catch::Contains("data.response_field"));
  cfg.response_field = "answer";
  TaskData with_responses(cfg, tokenizer(), policy::ChatTemplate::kPlain);
  CHECK_NOTHROW(with_responses.check_responses());
  TaskData::Stream s(with_responses, 1);
  std::mt19937_64 rng(1);
  const std::string resp = s.response(0, rng);
  CHECK((resp == "1" || resp == "3"));
  cfg.response_field = "missing";
  TaskData without(cfg, tokenizer(), policy::ChatTemplate::kPlain);
  CHECK_THROWS_WITH(without.check_responses(), Catch::Contains("train.jsonl:1") && Catch::Contains("'missing'"));
  // An empty dataset and a bad chat template name.
  std::ofstream(dir / "empty.jsonl") << "\n";
  cfg.train = {(dir / "empty.jsonl").string()};
  CHECK_THROWS_WITH(TaskData(cfg, tokenizer(), policy::ChatTemplate::kPlain), Catch::Contains("empty.jsonl"));
  CHECK_THROWS_WITH(resolve_chat_template("alpaca", ""), Catch::Contains("data.chat_template") && Catch::Contains("qwen2.5"));
  CHECK(resolve_chat_template("auto", "") == policy::ChatTemplate::kPlain);
  // Evaluation sets are named by their files' stems: two files with one stem, or a set named "train", are refused.
  DataConfig dup;
  dup.eval = {"a/test.jsonl", "b/test.jsonl"};
  CHECK_THROWS_WITH(dup.validate(), Catch::Contains("a/test.jsonl") && Catch::Contains("b/test.jsonl"));
  dup.eval = {"x/train.json"};
  CHECK_THROWS_WITH(dup.validate(), Catch::Contains("\"train\""));
  // A prompt with no tokens is dropped and counted apart from long ones.
  std::ofstream(dir / "withempty.jsonl") << "{\"prompt\": \"\", \"answer\": \"1\"}\n{\"prompt\": \"ok\", \"answer\": \"2\"}\n";
  DataConfig e;
  e.train = {(dir / "withempty.jsonl").string()};
  TaskData with_empty(e, tokenizer(), policy::ChatTemplate::kPlain);
  CHECK(with_empty.train_size() == 1);
  CHECK(with_empty.report()[0].find("1 dropped: no tokens") != std::string::npos);
  CHECK(resolve_chat_template("auto", "{{ '<|start_header_id|>' }}") == policy::ChatTemplate::kLlama3);
  CHECK_THROWS_WITH(resolve_chat_template("auto", "{{ messages }}"), Catch::Contains("not one grpo.cpp renders"));
}
