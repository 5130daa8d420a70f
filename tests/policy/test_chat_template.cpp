// Chat templates: every render in tests/fixtures/tokenizers/chat_templates.json (transformers' apply_chat_template
// over the real Jinja templates; scripts/make_chat_template_fixtures.py) is reproduced byte for byte, renders the
// template raises on throw, and names, tools and malformed messages fail with the template or message named.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <fstream>
#include <map>
#include <set>

#include "kernels/check.h"
#include "policy/tokenizer/chat_template.h"
#include "tests/shared_data.h"

using namespace grpo::policy;
using nlohmann::json;

namespace {

json load_fixture() {
  std::ifstream in(grpo::test::source_path("tests/fixtures/tokenizers/chat_templates.json"));
  REQUIRE(in.good());
  return json::parse(in);
}

ChatOptions options_of(const json& c) {
  ChatOptions opt;
  opt.add_generation_prompt = c.at("add_generation_prompt").get<bool>();
  opt.enable_thinking = c.at("enable_thinking").get<bool>();
  opt.date_string = c.at("date_string").get<std::string>();
  return opt;
}

// Where two renders first differ, with a little context of each, escaped so newlines show.
std::string describe_difference(const std::string& got, const std::string& want) {
  size_t at = 0;
  while (at < got.size() && at < want.size() && got[at] == want[at]) ++at;
  auto excerpt = [&](const std::string& s) {
    size_t from = at < 24 ? 0 : at - 24;
    return json(s.substr(from, 64)).dump(-1, ' ', false, json::error_handler_t::replace);
  };
  return grpo::str("first difference at byte ", at, " (got ", got.size(), " bytes, want ", want.size(),
                   ")\n  got:  ...", excerpt(got), "\n  want: ...", excerpt(want));
}

std::vector<ChatMessage> one_user(const std::string& text) { return {{"user", text}}; }

}  // namespace

TEST_CASE("chat templates render every fixture case exactly as transformers does", "[cpu]") {
  json fixture = load_fixture();
  const auto& cases = fixture.at("cases");
  REQUIRE(cases.size() >= 200);
  std::map<std::string, int> per_template;
  std::set<bool> thinking_seen;
  int n_failed = 0;
  for (const auto& c : cases) {
    auto name = c.at("template").get<std::string>();
    auto got = render_chat(parse_chat_template(name), parse_chat_messages(c.at("messages")), options_of(c));
    auto want = c.at("expected").get<std::string>();
    ++per_template[name];
    if (name == "qwen3") thinking_seen.insert(c.at("enable_thinking").get<bool>());
    if (got != want) {
      ++n_failed;
      FAIL_CHECK(name << " / " << c.at("conversation").get<std::string>() << " add_generation_prompt="
                      << c.at("add_generation_prompt") << " enable_thinking=" << c.at("enable_thinking") << ": "
                      << describe_difference(got, want));
    }
  }
  CHECK(n_failed == 0);
  for (const char* name : {"qwen2", "qwen2.5", "qwen3", "deepseek-r1", "llama3", "smollm2"})
    CHECK(per_template[name] >= 40);
  CHECK(thinking_seen.size() == 2);
}

TEST_CASE("chat templates throw where the Jinja template raises", "[cpu]") {
  json fixture = load_fixture();
  const auto& raises = fixture.at("raises");
  REQUIRE(!raises.empty());
  for (const auto& c : raises) {
    auto name = c.at("template").get<std::string>();
    INFO(name << " / " << c.at("conversation").get<std::string>() << ": " << c.at("error").get<std::string>());
    REQUIRE_THROWS_WITH(render_chat(parse_chat_template(name), parse_chat_messages(c.at("messages")), options_of(c)),
                        Catch::Contains(name) && Catch::Contains("hint"));
  }
  // deepseek-r1 reads no messages[0]: an empty conversation is just the bos token and the generation prompt.
  CHECK(render_chat(ChatTemplate::kDeepSeekR1, {}) == "<｜begin▁of▁sentence｜><｜Assistant｜><think>\n");
}

TEST_CASE("plain template concatenates contents, so a single user prompt is unchanged", "[cpu]") {
  const std::string prompt = "Using the numbers [3, 5, 7], create an equation that equals 22.\n<think>";
  CHECK(render_chat(ChatTemplate::kPlain, one_user(prompt)) == prompt);
  ChatOptions no_prompt;
  no_prompt.add_generation_prompt = false;
  CHECK(render_chat(ChatTemplate::kPlain, one_user(prompt), no_prompt) == prompt);
  std::vector<ChatMessage> conv = {{"system", "S|"}, {"user", "U|"}, {"assistant", "A", "ignored"}, {"other", "|O"}};
  CHECK(render_chat(ChatTemplate::kPlain, conv) == "S|U|A|O");
  CHECK(render_chat(ChatTemplate::kPlain, {}).empty());
}

TEST_CASE("chat template names parse, print back, and unknown names list the valid ones", "[cpu]") {
  for (const char* name : {"plain", "qwen2", "qwen2.5", "qwen3", "deepseek-r1", "llama3", "smollm2"})
    CHECK(chat_template_name(parse_chat_template(name)) == name);
  CHECK(parse_chat_template("qwen3") == ChatTemplate::kQwen3);
  REQUIRE_THROWS_AS(parse_chat_template("chatml"), grpo::Error);
  REQUIRE_THROWS_WITH(parse_chat_template("Qwen3"), Catch::Contains("'Qwen3'") && Catch::Contains("plain") &&
                                                        Catch::Contains("qwen2.5") && Catch::Contains("qwen3") &&
                                                        Catch::Contains("deepseek-r1") && Catch::Contains("llama3"));
  REQUIRE_THROWS_AS(parse_chat_template(""), grpo::Error);
}

TEST_CASE("tool calls and tool turns are refused with the template named", "[cpu]") {
  std::vector<ChatMessage> tool_turn = {{"user", "weather?"}, {"tool", "{\"t\": 20}"}};
  ChatMessage call{"assistant", "", std::nullopt, true};
  std::vector<ChatMessage> tool_call = {{"user", "weather?"}, call};
  for (const char* name : {"plain", "qwen2", "qwen2.5", "qwen3", "deepseek-r1", "llama3", "smollm2"}) {
    INFO(name);
    auto t = parse_chat_template(name);
    REQUIRE_THROWS_WITH(render_chat(t, tool_turn),
                        Catch::Contains(grpo::str("'", name, "'")) && Catch::Contains("\"tool\"") &&
                            Catch::Contains("not supported") && Catch::Contains("message 1"));
    REQUIRE_THROWS_WITH(render_chat(t, tool_call), Catch::Contains(grpo::str("'", name, "'")) &&
                                                       Catch::Contains("tool calls") && Catch::Contains("message 1"));
  }
  // llama3 calls tool responses "ipython"; the other templates drop that role like any unknown one.
  std::vector<ChatMessage> ipython = {{"user", "q"}, {"ipython", "out"}};
  REQUIRE_THROWS_WITH(render_chat(ChatTemplate::kLlama3, ipython), Catch::Contains("\"ipython\""));
  CHECK(render_chat(ChatTemplate::kQwen25, ipython) == render_chat(ChatTemplate::kQwen25, one_user("q")));
  // A tool_calls key marks the message, whatever the content.
  auto parsed = parse_chat_messages(json::parse(
      R"([{"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "f", "arguments": {}}}]}])"));
  CHECK(parsed.at(0).has_tool_calls);
  REQUIRE_THROWS_WITH(render_chat(ChatTemplate::kQwen3, parsed), Catch::Contains("'qwen3'"));
}

TEST_CASE("chat messages parse from JSON as transformers reads them", "[cpu]") {
  auto m = parse_chat_messages(json::parse(R"([
    {"role": "system", "content": "s", "name": "ignored"},
    {"role": "assistant", "content": "a", "reasoning_content": null, "thinking": "t", "tool_calls": null},
    {"role": "assistant", "content": "b", "reasoning": ""},
    {"role": "assistant", "content": "c"}])"));
  REQUIRE(m.size() == 4);
  CHECK(m[0].role == "system");
  CHECK(m[0].content == "s");
  CHECK(m[1].reasoning_content == std::optional<std::string>("t"));  // null is absent; "thinking" is an alias
  CHECK_FALSE(m[1].has_tool_calls);
  CHECK(m[2].reasoning_content == std::optional<std::string>(""));  // present but empty
  CHECK_FALSE(m[3].reasoning_content.has_value());
  // Present-but-empty reasoning keeps qwen3 from splitting content at </think>.
  std::vector<ChatMessage> split = {{"user", "q"}, {"assistant", "<think>r</think>a"}};
  std::vector<ChatMessage> kept = {{"user", "q"}, {"assistant", "<think>r</think>a", ""}};
  ChatOptions opt;
  opt.add_generation_prompt = false;
  CHECK(render_chat(ChatTemplate::kQwen3, split, opt) ==
        "<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\n<think>\nr\n</think>\n\na<|im_end|>\n");
  CHECK(render_chat(ChatTemplate::kQwen3, kept, opt) ==
        "<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n<think>r</think>a<|im_end|>\n");

  REQUIRE_THROWS_WITH(parse_chat_messages(json::parse(R"({"role": "user"})")), Catch::Contains("array"));
  REQUIRE_THROWS_WITH(parse_chat_messages(json::parse(R"(["hi"])")), Catch::Contains("message 0"));
  REQUIRE_THROWS_WITH(parse_chat_messages(json::parse(R"([{"content": "x"}])")), Catch::Contains("\"role\""));
  REQUIRE_THROWS_WITH(parse_chat_messages(json::parse(R"([{"role": "user", "content": "x"}, {"role": "user"}])")),
                      Catch::Contains("message 1") && Catch::Contains("no \"content\""));
  REQUIRE_THROWS_WITH(
      parse_chat_messages(json::parse(R"([{"role": "user", "content": [{"type": "text", "text": "x"}]}])")),
      Catch::Contains("non-string \"content\"") && Catch::Contains("multimodal"));
}

TEST_CASE("llama3 trims content with Python's Unicode whitespace and takes the date", "[cpu]") {
  ChatOptions opt;
  opt.add_generation_prompt = false;
  opt.date_string = "1 Jan 2025";
  // U+3000 and U+00A0 are whitespace to str.strip(); U+200B is not; a lone continuation byte is not either.
  std::vector<ChatMessage> conv = {{"user", "\xE3\x80\x80 \xC2\xA0x\xE2\x80\x8B\r\n"}, {"assistant", "\x80 y \t"}};
  CHECK(render_chat(ChatTemplate::kLlama3, conv, opt) ==
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\n"
        "Today Date: 1 Jan 2025\n\n<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nx\xE2\x80\x8B<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n\x80 y<|eot_id|>");
}

TEST_CASE("the text after an assistant turn, for SFT targets", "[cpu]") {
  CHECK(assistant_turn_end(ChatTemplate::kPlain).empty());
  CHECK(assistant_turn_end(ChatTemplate::kQwen2) == "<|im_end|>\n");
  CHECK(assistant_turn_end(ChatTemplate::kQwen25) == "<|im_end|>\n");
  CHECK(assistant_turn_end(ChatTemplate::kQwen3) == "<|im_end|>\n");
  CHECK(assistant_turn_end(ChatTemplate::kLlama3) == "<|eot_id|>");
  CHECK(assistant_turn_end(ChatTemplate::kDeepSeekR1) == "<｜end▁of▁sentence｜>");
  CHECK(assistant_turn_end(ChatTemplate::kSmolLM2) == "<|im_end|>\n");
}
