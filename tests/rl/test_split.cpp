// Split placement's parts across real processes (fork, c10d over Gloo on the loopback): the versioned weight channel
// leaves a rollout rank scoring and sampling exactly as the learner does, slices round-trip through the store, and a
// rank that dies ends its peer's wait with an error naming it, within the timeout.
#include "tests/catch_torch.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>

#include "policy/tokenizer/char_tokenizer.h"
#include "rl/batch.h"
#include "rl/split.h"
#include "tests/fork_ranks.h"
#include "tests/loopback.h"
#include "tests/temp_dir.h"

using namespace grpo;
using namespace grpo::rl;

namespace {

std::shared_ptr<policy::CharTokenizer> tokenizer() { return std::make_shared<policy::CharTokenizer>(); }

policy::Transformer make_model(uint64_t seed) {
  policy::ModelConfig cfg = policy::model_preset("test-moe", tokenizer()->vocab_size());
  cfg.initializer_range = 0.15;  // a varied distribution: samples differ
  return policy::Transformer(cfg, seed);
}

std::vector<rollout::Prompt> prompts(int n) {
  auto tok = tokenizer();
  std::vector<rollout::Prompt> out;
  for (int i = 0; i < n; ++i) {
    rollout::Prompt p;
    p.id = 100 + i;
    p.text = std::string(static_cast<size_t>(3 + i % 4), static_cast<char>('a' + i)) + "=";
    p.token_ids = tok->encode(p.text);
    out.push_back(p);
  }
  return out;
}

constexpr int64_t kG = 3;

rollout::SamplingConfig sampling() {
  rollout::SamplingConfig s;
  s.max_new_tokens = 10;
  s.seed = 7;
  return s;
}

// The engine's completions of the fixed prompts (G each) with the model's current weights, as a slice.
RolloutSlice generate(policy::Transformer model, int64_t version) {
  rollout::EngineConfig ec;
  ec.max_seq_len = 32;
  rollout::RolloutEngine engine(model, tokenizer(), ec);
  engine.sync_weights(version);
  RolloutSlice s;
  s.version = version;
  for (const auto& p : prompts(4)) s.prompt_ids.push_back(p.id);
  s.round.completions = engine.generate(prompts(4), kG, sampling());
  s.round.scores.resize(s.round.completions.size());
  return s;
}

TrainBatch pack(const RolloutSlice& s) {
  static const auto ps = prompts(4);
  std::vector<SequenceParts> parts;
  for (size_t i = 0; i < s.round.completions.size(); ++i) {
    parts.push_back({&ps[i / kG].token_ids, &s.round.completions[i].token_ids, &s.round.completions[i].logprobs,
                     (i % 2 == 0) ? 1.0f : -1.0f});
  }
  return pack_sequences(parts, tokenizer()->pad_id(), at::kCPU);
}

double max_masked_diff(const at::Tensor& a, const at::Tensor& b, const at::Tensor& mask) {
  return ((a - b).abs() * mask).max().item<double>();
}

// Children write their findings to a file; the parent reads it back.
void write_line(const std::string& path, const std::string& line) {
  std::ofstream(path, std::ios::app) << line << "\n";
}

}  // namespace

TEST_CASE("a rollout slice round-trips through its encoding, log-probs bit for bit", "[cpu]") {
  RolloutSlice s = generate(make_model(5), 3);
  s.step = 4, s.first_draw = 17;
  s.round.scores[1].value = 0.125, s.round.scores[1].components = {{"countdown", 1.0}}, s.round.scores[1].answer = "x";
  s.round.scores[1].verdict = rewards::Verdict::ok, s.round.scores[1].detail = "fine";
  s.round.stats.generated_tokens = 99, s.round.stats.seconds = 1.5, s.round.generate_seconds = 1.25;
  s.round.completions[2].routing = {{1, 2}, {3, 0}};
  const RolloutSlice d = decode_slice(encode_slice(s));
  CHECK(d.step == 4);
  CHECK(d.version == 3);
  CHECK(d.first_draw == 17);
  CHECK(d.prompt_ids == s.prompt_ids);
  REQUIRE(d.round.completions.size() == s.round.completions.size());
  for (size_t i = 0; i < s.round.completions.size(); ++i) {
    const auto &a = s.round.completions[i], &b = d.round.completions[i];
    CHECK(a.token_ids == b.token_ids);
    CHECK(a.logprobs == b.logprobs);  // exact
    CHECK(a.text == b.text);
    CHECK(a.finish_reason == b.finish_reason);
    CHECK(a.policy_version == b.policy_version);
    CHECK(a.routing == b.routing);
    CHECK(a.prompt_id == b.prompt_id);
    CHECK(a.sample_index == b.sample_index);
  }
  CHECK(d.round.scores[1].value == 0.125);
  CHECK(d.round.scores[1].components.at("countdown") == 1.0);
  CHECK(d.round.scores[1].verdict == rewards::Verdict::ok);
  CHECK(d.round.scores[1].answer == "x");
  CHECK(d.round.scores[1].detail == "fine");
  CHECK(d.round.stats.generated_tokens == 99);
  CHECK(d.round.stats.seconds == 1.5);
  CHECK(d.round.generate_seconds == 1.25);
  CHECK_THROWS_WITH(decode_slice("not msgpack"), Catch::Contains("does not decode"));
}

TEST_CASE("split placement: after each weight broadcast the rollout rank's log-probs equal the learner's within 1e-6",
          "[cpu]") {
  // Rank 0 (learner) and rank 1 (rollout) start from different weights. Each round: rank 0 takes a GRPO update and
  // sends version v; rank 1 receives it, generates, scores its own completions and posts both; rank 0 generates the
  // same prompts with the same seed and scores rank 1's completions with its own weights.
  grpo::test::TempDir dir;
  const std::string report = (dir.path / "report.txt").string();
  const int64_t port = grpo::test::free_port();
  auto run = grpo::test::fork_ranks(2, (dir.path / "log.txt").string(), [&](int64_t r) {
    Dist world(grpo::test::loopback_env(r, 2, port), std::chrono::seconds(60));
    std::unique_ptr<Dist> weights = world.subgroup("weights", {0, 1});
    policy::Transformer model = make_model(r == 0 ? 5 : 11);
    WeightChannel channel(*weights, model);
    if (r == 1) {
      for (int64_t v = 0;; ++v) {
        if (v > 0) {
          std::optional<int64_t> got = channel.receive();
          if (!got) break;
          if (*got != v) throw std::runtime_error("version " + std::to_string(*got) + ", not " + std::to_string(v));
        }
        RolloutSlice s = generate(model, v);
        s.step = v;
        // The rollout rank's own scoring of its tokens, in the completions' log-prob slots of a second slice.
        RolloutSlice scored = s;
        TrainBatch b = pack(s);
        at::Tensor own = score_tokens(model, b, 1.0, 1 << 20, at::kFloat);
        for (size_t i = 0; i < scored.round.completions.size(); ++i) {
          auto& lp = scored.round.completions[i].logprobs;
          const int64_t P = static_cast<int64_t>(prompts(4)[i / kG].token_ids.size());
          for (size_t t = 0; t < lp.size(); ++t) {
            lp[t] = own[static_cast<int64_t>(i)][P + static_cast<int64_t>(t) - 1].item<float>();
          }
        }
        world.put(slice_key(v, 0), encode_slice(s));
        world.put(slice_key(v, 1), encode_slice(scored));
      }
    } else {
      LearnerConfig lc;
      lc.optim.lr = 1e-2;  // large steps: each version differs clearly from the one before
      Learner learner(model, lc);
      for (int64_t v = 0; v <= 3; ++v) {
        if (v > 0) {
          RolloutSlice mine = generate(model, v - 1);
          learner.grpo_update(pack(mine));
          channel.send(v);
        }
        RolloutSlice theirs = decode_slice(world.get(slice_key(v, 0), "the rollout rank's completions"));
        RolloutSlice their_scores = decode_slice(world.get(slice_key(v, 1), "the rollout rank's scores"));
        RolloutSlice mine = generate(model, v);
        bool same_tokens = true;
        double engine_diff = 0;
        for (size_t i = 0; i < mine.round.completions.size(); ++i) {
          same_tokens = same_tokens && mine.round.completions[i].token_ids == theirs.round.completions[i].token_ids;
          if (mine.round.completions[i].token_ids != theirs.round.completions[i].token_ids) continue;
          for (size_t t = 0; t < mine.round.completions[i].logprobs.size(); ++t) {
            engine_diff = std::max<double>(engine_diff, std::abs(mine.round.completions[i].logprobs[t] -
                                                                 theirs.round.completions[i].logprobs[t]));
          }
        }
        TrainBatch b = pack(theirs);
        at::Tensor learner_lp = learner.score(b);
        at::Tensor their_lp = pack(their_scores).old_logprobs;
        char line[256];
        std::snprintf(line, sizeof(line), "version %lld same_tokens %d engine %.3g scoring %.3g engine_vs_learner %.3g",
                      static_cast<long long>(v), same_tokens ? 1 : 0, engine_diff,
                      max_masked_diff(learner_lp, their_lp, b.loss_mask),
                      max_masked_diff(learner_lp, b.old_logprobs, b.loss_mask));
        write_line(report, line);
      }
      channel.send_stop();
    }
  });
  INFO(run.log);
  REQUIRE(run.status == std::vector<int>({0, 0}));
  std::ifstream in(report);
  long long v = 0;
  int same = 0;
  double engine = 0, scoring = 0, engine_vs_learner = 0;
  int lines = 0;
  std::string line;
  while (std::getline(in, line)) {
    std::printf("%s\n", line.c_str());  // the measured differences, for the record (ctest -V)
    INFO(line);
    REQUIRE(std::sscanf(line.c_str(), "version %lld same_tokens %d engine %lf scoring %lf engine_vs_learner %lf", &v,
                        &same, &engine, &scoring, &engine_vs_learner) == 5);
    if (v == 0) {
      // Before any broadcast the two ranks' weights differ: the check can fail.
      CHECK(scoring > 1e-2);
    } else {
      CHECK(same == 1);          // the same samples, token for token
      CHECK(engine <= 1e-6);     // the rollout rank's engine log-probs = the learner rank's engine's
      CHECK(scoring <= 1e-6);    // the rollout rank's scoring of its tokens = the learner's
      CHECK(engine_vs_learner <= 1e-5);  // the engine against the training forward (as within one process)
    }
    ++lines;
  }
  CHECK(lines == 4);
}

TEST_CASE("a rollout rank that dies ends the learner's wait for its completions, naming it, within the timeout",
          "[cpu]") {
  grpo::test::TempDir dir;
  const int64_t port = grpo::test::free_port();
  auto run = grpo::test::fork_ranks(2, (dir.path / "log.txt").string(), [&](int64_t r) {
    Dist world(grpo::test::loopback_env(r, 2, port), std::chrono::seconds(4));
    world.barrier("joined");
    if (r == 1) _exit(0);  // the rollout rank dies before posting step 1
    Placement p;
    p.split = true, p.learners = 1, p.rollouts = 1;
    RolloutFeed feed(world, p, 0, 4, kG, 1);
    feed.fetch(0, 0, prompts(4));
    throw std::runtime_error("rank 0: the fetch returned with a dead rollout rank");
  });
  INFO(run.log);
  CHECK(run.status[0] == 1);
  CHECK(run.log.find("rank 0: waiting for rollout rank 1's completions of step 1 failed or timed out") !=
        std::string::npos);
  CHECK(run.seconds < 30);
}

TEST_CASE("a learner rank 0 that dies ends the rollout rank's wait for weights, naming the broadcast", "[cpu]") {
  grpo::test::TempDir dir;
  const int64_t port = grpo::test::free_port();
  auto run = grpo::test::fork_ranks(2, (dir.path / "log.txt").string(), [&](int64_t r) {
    Dist world(grpo::test::loopback_env(r, 2, port), std::chrono::seconds(4));
    std::unique_ptr<Dist> weights = world.subgroup("weights", {0, 1});
    weights->barrier("joined");
    if (r == 0) _exit(0);
    WeightChannel channel(*weights, make_model(3));
    channel.receive();
    throw std::runtime_error("rank 1: received weights from a dead rank 0");
  });
  INFO(run.log);
  CHECK(run.status[1] == 1);
  CHECK(run.log.find("rank 1 (weights group: 1 of 2): broadcast of the next weights' header") != std::string::npos);
  CHECK(run.seconds < 30);
}
