// The Countdown task set: the train/held-out split is disjoint and stable, prompts have the documented form,
// SFT targets are correct answers by the verifier, and training draws are a pure function of (seed, index).
#include "tests/catch_torch.h"

#include <set>

#include "policy/tokenizer/char_tokenizer.h"
#include "rewards/countdown.h"
#include "rl/countdown_task.h"

using namespace grpo;
using namespace grpo::rl;

TEST_CASE("countdown split: 16,292 problems, disjoint, stable", "[cpu]") {
  CountdownTaskConfig cfg;
  CountdownData a = build_countdown_data(cfg);
  CHECK(a.train.size() + a.heldout.size() == 16292);
  CHECK(a.heldout.size() > 1400);
  CHECK(a.heldout.size() < 1800);
  std::set<std::pair<std::vector<int64_t>, int64_t>> train;
  for (const auto& p : a.train) train.insert({p.numbers, p.target});
  for (const auto& p : a.heldout) CHECK(train.count({p.numbers, p.target}) == 0);
  CountdownData b = build_countdown_data(cfg);
  REQUIRE(b.heldout.size() == a.heldout.size());
  for (size_t i = 0; i < a.heldout.size(); ++i) CHECK(b.heldout[i].target == a.heldout[i].target);
}

TEST_CASE("countdown prompts and SFT targets", "[cpu]") {
  CountdownTaskConfig cfg;
  CHECK(countdown_prompt_text({3, 15, 7}, 22, cfg) == "03,15,07=022:");
  policy::CharTokenizer tok;
  CountdownData data = build_countdown_data(cfg);
  std::mt19937_64 rng(5);
  for (bool trace : {false, true}) {
    cfg.trace = trace;
    for (size_t i = 0; i < 200; ++i) {
      const CountdownProblem& p = data.train[i * 37 % data.train.size()];
      std::string completion = countdown_sft_completion(p, rng, cfg);
      rewards::Score s = rewards::score_countdown(completion, rewards::CountdownProblem{p.numbers, p.target});
      INFO(completion);
      CHECK(s.verdict == rewards::Verdict::ok);
      CHECK((completion.find("<think>") != std::string::npos) == trace);
    }
  }
  auto eval = countdown_eval_prompts(data, tok, cfg, 1000);
  CHECK(eval.size() == 1000);
  CHECK(eval[0].text.size() == 13);
  CHECK(eval[0].token_ids.size() == 13);
  CHECK(eval[0].meta.at("target") == std::to_string(data.heldout[0].target));
  REQUIRE_THROWS_WITH(countdown_eval_prompts(data, tok, cfg, 100000), Catch::Contains("eval_size"));
  // task.chat_template wraps the same text in one user turn of the named template.
  cfg.chat_template = "qwen2.5";
  auto chat = countdown_eval_prompts(data, tok, cfg, 1);
  CHECK(chat[0].text.find("<|im_start|>user\n" + eval[0].text + "<|im_end|>\n<|im_start|>assistant\n") !=
        std::string::npos);
  cfg.chat_template = "alpaca";
  REQUIRE_THROWS_WITH(cfg.validate(), Catch::Contains("alpaca"));
}

TEST_CASE("training draws depend only on seed and index", "[cpu]") {
  CountdownTaskConfig cfg;
  policy::CharTokenizer tok;
  CountdownData data = build_countdown_data(cfg);
  CountdownSampler a(data.train, 9), b(data.train, 9), c(data.train, 10);
  // b jumps straight to a late draw (as a resumed run does) and still agrees with a.
  const int64_t late = static_cast<int64_t>(data.train.size()) * 2 + 17;
  for (int64_t i = 0; i < late; ++i) a.problem(i);
  CHECK(a.prompt(late, tok, cfg).text == b.prompt(late, tok, cfg).text);
  // Each epoch visits every problem once.
  std::set<const CountdownProblem*> seen;
  for (int64_t i = 0; i < static_cast<int64_t>(data.train.size()); ++i) seen.insert(&c.problem(i));
  CHECK(seen.size() == data.train.size());
}
