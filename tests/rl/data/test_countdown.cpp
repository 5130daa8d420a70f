// The Countdown generator: the train/held-out split is disjoint and stable, records and the compact prompt have the
// documented form, SFT targets are correct answers by the verifier, and training draws (with a fresh display order
// each) are a pure function of (seed, index).
#include <catch2/catch.hpp>

#include <set>

#include "policy/tokenizer/char_tokenizer.h"
#include "rewards/countdown.h"
#include "rl/data/countdown.h"
#include "rl/data/task_data.h"

using namespace grpo;
using namespace grpo::rl::data;

TEST_CASE("countdown split: 16,292 problems, disjoint, stable", "[cpu]") {
  CountdownConfig cfg;
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

TEST_CASE("countdown records, prompts and SFT targets", "[cpu]") {
  CountdownConfig cfg;
  CHECK(countdown_prompt_text({3, 15, 7}, 22, cfg) == "03,15,07=022:");
  Record r = countdown_record({{3, 7, 15}, 22}, {15, 3, 7}, cfg);
  CHECK(r.fields["compact"] == "15,03,07=022:");
  CHECK(r.fields["numbers"] == nlohmann::json({15, 3, 7}));
  CountdownProblem back = countdown_problem(r);
  CHECK(back.numbers == std::vector<int64_t>{3, 7, 15});
  CHECK(back.target == 22);
  CHECK_THROWS_WITH(countdown_problem(Record{{{"numbers", "3,7"}}, "x.jsonl:4"}), Catch::Contains("x.jsonl:4"));
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
}

TEST_CASE("the countdown source through TaskData: compact prompts, held-out set, meta for the verifier", "[cpu]") {
  policy::CharTokenizer tok;
  DataConfig cfg;
  cfg.source = "countdown";
  cfg.prompt.prompt_field = "compact";
  cfg.prompt.answer_field = "none";
  cfg.eval_size = 1000;
  TaskData data(cfg, tok, policy::ChatTemplate::kPlain);
  REQUIRE(data.eval_sets().size() == 1);
  const PromptSet& eval = data.eval_sets()[0];
  CHECK(eval.name == "heldout");
  CHECK(eval.prompts.size() == 1000);
  CHECK(eval.prompts[0].text.size() == 13);
  CHECK(eval.prompts[0].token_ids.size() == 13);
  CHECK(eval.prompts[7].id == 7);
  // The verifier's meta: numbers and target, and the compact text scores a solution as correct.
  const auto& meta = eval.prompts[0].meta;
  REQUIRE(meta.count("numbers"));
  REQUIRE(meta.count("target"));
  CHECK(data.report().back().find("none shared with the training set") != std::string::npos);
  // Training draws: same (seed, draw) -> same prompt and SFT target, whatever was drawn before.
  TaskData::Stream a(data, 9), b(data, 9), c(data, 10);
  const int64_t late = static_cast<int64_t>(data.train_size()) * 2 + 17;
  for (int64_t i = 0; i < late; i += 97) a.prompt(i);
  CHECK(a.prompt(late).text == b.prompt(late).text);
  CHECK(a.prompt(late).id == late);
  std::mt19937_64 r1(3), r2(3);
  CHECK(a.response(late, r1) == b.response(late, r2));
  // Each epoch visits every record once.
  DrawOrder order(data.train_size(), 10);
  std::set<size_t> seen;
  for (int64_t i = 0; i < static_cast<int64_t>(data.train_size()); ++i) seen.insert(order.index(i));
  CHECK(seen.size() == data.train_size());
  // The generator shows a record's numbers in an order drawn from the draw's key.
  RecordSource src = countdown_source(cfg.countdown);
  const Record& first = src.train[src.train.size() / 2];  // numbers not all equal
  const std::vector<int64_t> first_numbers = countdown_problem(first).numbers;
  REQUIRE(std::set<int64_t>(first_numbers.begin(), first_numbers.end()).size() > 1);
  std::set<std::string> shown;
  for (uint64_t key = 0; key < 20; ++key) {
    Record r = src.redraw(first, key);
    CHECK(countdown_problem(r).numbers == countdown_problem(first).numbers);
    shown.insert(r.fields["compact"].get<std::string>());
  }
  CHECK(shown.size() > 1);
  // A chat template wraps the same text in one user turn.
  TaskData chat(cfg, tok, policy::ChatTemplate::kQwen25, /*with_train=*/false);
  CHECK(chat.eval_sets()[0].prompts[0].text.find("<|im_start|>user\n" + eval.prompts[0].text +
                                                 "<|im_end|>\n<|im_start|>assistant\n") != std::string::npos);
}
