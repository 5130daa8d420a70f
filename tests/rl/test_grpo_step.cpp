// The functions that tie the stages together, on a real (tiny) model: one GRPO step from the data stream through the
// rollout, a reward mixture, advantages and the learner; and evaluate() with samples (records, pass@k curve, maj@k).
// A stand-in verifier registered in the pool makes the rewards depend on the sampled text in a known way.
#include "tests/catch_torch.h"

#include <cmath>
#include <memory>

#include "policy/device.h"
#include "policy/tokenizer/char_tokenizer.h"
#include "rl/batch.h"
#include "rl/evaluate.h"
#include "rl/grpo_step.h"
#include "tests/devices.h"
#include "tests/shared_data.h"

using namespace grpo;
using namespace grpo::rl;

namespace {

// ok when the completion's first character is a digit; its answer is that character.
rewards::Score first_digit(std::string_view completion, const rewards::Meta&) {
  rewards::Score s;
  s.answer = completion.empty() ? "" : std::string(1, completion[0]);
  const bool digit = !completion.empty() && completion[0] >= '0' && completion[0] <= '9';
  s.value = digit ? 1.0 : 0.0;
  s.verdict = digit ? rewards::Verdict::ok : rewards::Verdict::wrong;
  return s;
}

struct Setup {
  std::shared_ptr<policy::CharTokenizer> tok = std::make_shared<policy::CharTokenizer>();
  policy::Transformer model{nullptr};
  data::DataConfig data_cfg;
  std::unique_ptr<data::TaskData> data;
  rewards::ScorePool pool;
  rewards::RewardMixConfig mix;
  Setup() {
    policy::ModelConfig cfg = policy::model_preset("test-moe", tok->vocab_size());
    cfg.initializer_range = 0.2;  // varied samples
    model = policy::Transformer(cfg, 11);
    data_cfg.source = "countdown";
    data_cfg.prompt.prompt_field = "compact";
    data_cfg.prompt.answer_field = "none";
    data_cfg.eval_size = 8;
    data = std::make_unique<data::TaskData>(data_cfg, *tok, policy::ChatTemplate::kPlain);
    pool.add_checker("math", first_digit);  // stands in for the math verifier
    mix.weights = {{"math", 1.0}, {"format", 0.5}};
  }
};

// One step's worth of machinery over a Setup: engine, learner (lr 1e-2), data stream and the context joining them.
struct StepRig {
  static rollout::SamplingConfig sampling_config() {
    rollout::SamplingConfig c;
    c.max_new_tokens = 8;
    c.seed = 5;
    return c;
  }
  static rollout::EngineConfig engine_config(at::ScalarType dtype) {
    rollout::EngineConfig c;
    c.max_seq_len = 32;
    c.dtype = dtype;
    return c;
  }
  static LearnerConfig learner_config(at::ScalarType dtype, const LossConfig& loss) {
    LearnerConfig c;
    c.optim.lr = 1e-2;
    c.dtype = dtype;
    c.loss = loss;
    return c;
  }
  // The model on its device; dtype is run.dtype's role: the rollout's weights and the learner's autocast.
  StepRig(Setup& s, const GrpoConfig& g, at::ScalarType dtype = at::kFloat, const LossConfig& loss = LossConfig())
      : engine(s.model, s.tok, engine_config(dtype)), learner(s.model, learner_config(dtype, loss)), stream(*s.data, 3),
        ctx{g, sampling, s.mix, stream, *s.tok, engine, s.pool, learner} {
    ctx.device = s.model->embed_tokens->weight.device();
  }
  rollout::SamplingConfig sampling = sampling_config();
  rollout::RolloutEngine engine;
  Learner learner;
  data::TaskData::Stream stream;
  GrpoContext ctx;
};

// A small step: B = 4 prompts, G = 4 samples; every group reaches the learner, whatever the rewards, unless told.
GrpoConfig small_step(bool keep_all = true) {
  GrpoConfig g;
  g.prompts_per_step = 4;
  g.group_size = 4;
  g.drop_zero_variance = !keep_all;
  return g;
}

}  // namespace

TEST_CASE("grpo_step: prompts from the stream, the reward mixture, advantages and one update", "[cpu]") {
  Setup s;
  GrpoConfig g = small_step();
  g.samples_every = 1;
  StepRig rig(s, g);
  GrpoContext& ctx = rig.ctx;
  const at::Tensor before = s.model->embed_tokens->weight.clone();
  GrpoStepResult r = grpo_step(ctx, 0);
  const auto& m = r.metrics;
  CHECK(m["step"] == 1);
  // Every completion scored: the verdicts add up to B x G, and accuracy is the verifier's ok share.
  int64_t n = 0;
  for (auto it = m["verdicts"].begin(); it != m["verdicts"].end(); ++it) n += it.value().get<int64_t>();
  CHECK(n == 16);
  const double ok = m["verdicts"].value("ok", 0);
  CHECK(m["accuracy"].get<double>() == Approx(ok / 16));
  // The total is math + 0.5 * format per completion; the components are logged unweighted.
  CHECK(m["reward_mean"].get<double>() ==
        Approx(m["reward_components"]["math"].get<double>() + 0.5 * m["reward_components"]["format"].get<double>()));
  REQUIRE(r.samples.size() == 4);  // one group, samples_every = 1
  CHECK(r.samples[0]["prompt"].get<std::string>().size() == 13);
  REQUIRE(m["zero_variance_groups"].get<int64_t>() < 4);  // the seed gives differing rewards in some group
  CHECK(m["learner_tokens"].get<int64_t>() > 0);
  CHECK(m["ratio_mean"].get<double>() == Approx(1.0).margin(1e-4));  // the rollout's log-probs are the learner's
  CHECK_FALSE(at::equal(before, s.model->embed_tokens->weight));  // the shared weights moved
  // The next step draws the next prompts of the stream.
  GrpoStepResult r2 = grpo_step(ctx, 1);
  CHECK(r2.metrics["step"] == 2);
}

namespace {

// One step of the rig in `dtype` on `device`: every completion scored, the learner trained, the weights moved and,
// in bf16, the rollout's copy refreshed (the second step's first ratio is again about 1).
void check_step_on(const at::Device& device, at::ScalarType dtype) {
  Setup s;
  s.model->to(device);
  GrpoConfig g = small_step();
  StepRig rig(s, g, dtype);
  const at::Tensor before = s.model->embed_tokens->weight.clone();
  for (int64_t step = 0; step < 2; ++step) {
    GrpoStepResult r = grpo_step(rig.ctx, step);
    INFO("step " << step << ": " << r.metrics.dump());
    CHECK(r.metrics["learner_tokens"].get<int64_t>() > 0);
    // bf16: the rollout's bf16 weights against the learner's autocast; float32: the same arithmetic.
    CHECK(r.metrics["ratio_mean"].get<double>() == Approx(1.0).margin(dtype == at::kFloat ? 1e-4 : 2e-2));
    CHECK(std::isfinite(r.metrics["grad_norm"].get<double>()));
  }
  CHECK_FALSE(at::equal(before, s.model->embed_tokens->weight));
  CHECK(s.model->embed_tokens->weight.scalar_type() == at::kFloat);
}

}  // namespace

TEST_CASE("grpo_step at T = 0.7 with top-p 0.9: the batch carries the temperature, the first ratio is 1", "[cpu]") {
  Setup s;
  GrpoConfig g = small_step();
  StepRig rig(s, g);
  rig.sampling.temperature = 0.7;
  rig.sampling.top_p = 0.9;
  GrpoStepResult r = grpo_step(rig.ctx, 0);
  INFO(r.metrics.dump());
  REQUIRE(r.metrics["learner_tokens"].get<int64_t>() > 0);
  // The learner scored at 0.7, as the rollout did: ratio 1 up to float rounding, nothing clipped. (At 1.0 the ratio of
  // these peaked samples is far from 1: the test would fail.)
  CHECK(r.metrics["ratio_mean"].get<double>() == Approx(1.0).margin(1e-5));
  CHECK(r.metrics["clip_fraction"].get<double>() == 0.0);
  // Completions carry it, so the batch cannot silently be scored at another temperature.
  auto c = rig.engine.generate({s.data->eval_sets()[0].prompts[0]}, 1, rig.sampling);
  CHECK(c[0].logprob_temperature == 0.7);
  rig.sampling.temperature = 0;
  CHECK(rig.engine.generate({s.data->eval_sets()[0].prompts[0]}, 1, rig.sampling)[0].logprob_temperature == 1.0);
}

TEST_CASE("grpo_step scores the same with streaming (scoring while generating) as after generation", "[cpu]") {
  std::vector<nlohmann::json> runs;
  for (bool stream : {false, true}) {
    Setup s;
    GrpoConfig g = small_step(/*keep_all=*/false);
    g.samples_every = 1;
    g.stream_scoring = stream;
    StepRig rig(s, g);
    GrpoStepResult r = grpo_step(rig.ctx, 0);
    nlohmann::json j = {{"reward", r.metrics["reward_mean"]}, {"verdicts", r.metrics["verdicts"]},
                        {"accuracy", r.metrics["accuracy"]}, {"components", r.metrics["reward_components"]},
                        {"samples", r.samples}, {"loss", r.metrics["loss"]}};
    runs.push_back(j);
  }
  CHECK(runs[0].dump() == runs[1].dump());
}

TEST_CASE("grpo_step in bf16: the rollout generates with a synced bf16 copy, the learner under autocast", "[cpu]") {
  check_step_on(at::kCPU, at::kBFloat16);
}

TEST_CASE("grpo_step on CUDA: a whole step of the countdown task, float32 and bf16", "[gpu]") {
  GRPO_NEED_CUDA();
  check_step_on(at::kCUDA, at::kFloat);
  check_step_on(at::kCUDA, at::kBFloat16);
}

TEST_CASE("grpo_step with rl.signal = verifier: groups that differ only by shaping are not trained on", "[cpu]") {
  // The verifier is always wrong; the shaping term (format, stood in for by "even length") differs within groups.
  auto wrong = [](std::string_view, const rewards::Meta&) {
    rewards::Score s;
    s.verdict = rewards::Verdict::wrong;
    return s;
  };
  auto even = [](std::string_view c, const rewards::Meta&) {
    rewards::Score s;
    s.value = c.size() % 2 == 0 ? 1.0 : 0.0;
    return s;
  };
  for (const char* signal : {"reward", "verifier"}) {
    Setup s;
    s.pool.add_checker("math", wrong);
    s.pool.add_checker("format", even);
    GrpoConfig g = small_step(/*keep_all=*/false);
    g.signal = signal;
    REQUIRE_NOTHROW(g.validate());
    StepRig rig(s, g);
    const at::Tensor before = s.model->embed_tokens->weight.clone();
    const auto m = grpo_step(rig.ctx, 0).metrics;
    INFO(signal << ": " << m.dump());
    CHECK(m["accuracy"].get<double>() == 0.0);
    if (std::string(signal) == "reward") {
      REQUIRE(m["zero_variance_groups"].get<int64_t>() < 4);  // the lengths differ in some group
      CHECK(m["learner_tokens"].get<int64_t>() > 0);
      CHECK_FALSE(at::equal(before, s.model->embed_tokens->weight));
    } else {
      CHECK(m["zero_variance_groups"].get<int64_t>() == 4);
      CHECK(m["learner_tokens"].get<int64_t>() == 0);
      CHECK(m["update_skipped"].get<bool>());
      CHECK(at::equal(before, s.model->embed_tokens->weight));
    }
  }
  GrpoConfig bad;
  bad.signal = "shaping";
  CHECK_THROWS_WITH(bad.validate(), Catch::Contains("rl.signal"));
}

TEST_CASE("grpo_step with dynamic sampling draws more prompts until B groups carry signal", "[cpu]") {
  std::vector<nlohmann::json> m;
  for (bool dynamic : {false, true}) {
    Setup s;
    GrpoConfig g = small_step(/*keep_all=*/false);
    g.dynamic_sampling = dynamic;
    g.max_draw_rounds = 6;
    StepRig rig(s, g);
    m.push_back(grpo_step(rig.ctx, 0).metrics);
    m.back()["cursor_after"] = rig.ctx.data_cursor;
    m.back()["second_cursor"] = (grpo_step(rig.ctx, 1), rig.ctx.data_cursor);
  }
  INFO(m[0].dump() << "\n" << m[1].dump());
  // Without: one round of B = 4 prompts, the zero-variance groups simply left out.
  REQUIRE(m[0]["zero_variance_groups"].get<int64_t>() > 0);
  CHECK(m[0]["draw_rounds"] == 1);
  CHECK(m[0]["groups_trained"].get<int64_t>() == 4 - m[0]["zero_variance_groups"].get<int64_t>());
  CHECK(m[0]["cursor_after"] == 4);
  CHECK(m[0]["second_cursor"] == 8);
  // With: the first round is the same draw; more rounds until 4 groups carry signal, surplus dropped.
  CHECK(m[1]["draw_rounds"].get<int64_t>() > 1);
  CHECK(m[1]["groups_trained"] == 4);
  CHECK(m[1]["prompts_drawn"].get<int64_t>() > 4);
  CHECK(m[1]["cursor_after"] == m[1]["prompts_drawn"]);  // the stream continues where the extra draws stopped
  CHECK(m[1]["learner_tokens"].get<int64_t>() > m[0]["learner_tokens"].get<int64_t>());
  GrpoConfig bad = small_step(/*keep_all=*/true);
  bad.dynamic_sampling = true;
  CHECK_THROWS_WITH(bad.validate(), Catch::Contains("drop_zero_variance"));
}

TEST_CASE("grpo_step with mask_truncated: cut-off completions keep their rewards but carry no loss", "[cpu]") {
  std::vector<nlohmann::json> m;
  for (bool mask : {false, true}) {
    Setup s;
    GrpoConfig g = small_step();
    g.mask_truncated = mask;
    StepRig rig(s, g);
    m.push_back(grpo_step(rig.ctx, 0).metrics);
  }
  INFO(m[0].dump() << "\n" << m[1].dump());
  const double cut = m[0]["truncated_rate"].get<double>();
  REQUIRE(cut > 0.0);
  REQUIRE(cut < 1.0);
  CHECK(m[1]["reward_mean"] == m[0]["reward_mean"]);  // the same samples and rewards
  CHECK(m[1]["learner_tokens"].get<int64_t>() > 0);
  CHECK(m[1]["learner_tokens"].get<int64_t>() < m[0]["learner_tokens"].get<int64_t>());
}

TEST_CASE("grpo_step with mu = 2: two optimiser passes over one rollout batch at the step's learning rate", "[cpu]") {
  std::vector<at::Tensor> weights;
  std::vector<nlohmann::json> m;
  for (int64_t mu : {1, 2}) {
    Setup s;
    GrpoConfig g = small_step();
    g.mu = mu;
    StepRig rig(s, g);
    m.push_back(grpo_step(rig.ctx, 0).metrics);
    CHECK(rig.learner.step() == 1);
    weights.push_back(s.model->embed_tokens->weight.clone());
  }
  INFO(m[0].dump() << "\n" << m[1].dump());
  CHECK(m[0]["ratio_mean"].get<double>() == Approx(1.0).margin(1e-5));
  // The second pass sees the first pass's update: its ratios moved away from 1.
  CHECK(std::abs(m[1]["ratio_mean"].get<double>() - 1.0) > 1e-4);
  CHECK_FALSE(at::allclose(weights[0], weights[1]));
}

TEST_CASE("grpo_step with is_correction in bf16: the learner's own log-probs are the ratio's base, the rollout's weigh it",
          "[cpu]") {
  Setup s;
  GrpoConfig g = small_step();
  LossConfig loss;
  loss.is_correction = "token_truncate";
  StepRig rig(s, g, at::kBFloat16, loss);
  GrpoStepResult r = grpo_step(rig.ctx, 0);
  INFO(r.metrics.dump());
  // The bf16 rollout and the learner under autocast disagree a little; the importance weights carry that, and the
  // first ratio is exactly the learner against itself.
  CHECK(r.metrics["logprob_diff"].get<double>() > 1e-4);
  CHECK(r.metrics["ratio_mean"].get<double>() == Approx(1.0).margin(1e-5));
  CHECK(r.metrics["is_weight_mean"].get<double>() == Approx(1.0).margin(0.05));
  CHECK(r.metrics["is_weight_mean"].get<double>() != 1.0);
}

TEST_CASE("routing replay: the learner forces the rollout's experts, and stays closer to the rollout's log-probs",
          "[cpu]") {
  Setup s;
  rollout::EngineConfig ec;
  ec.max_seq_len = 32;
  ec.record_routing = true;
  rollout::RolloutEngine engine(s.model, s.tok, ec);
  rollout::SamplingConfig sc;
  sc.max_new_tokens = 8;
  sc.seed = 9;
  std::vector<rollout::Prompt> prompts(s.data->eval_sets()[0].prompts.begin(), s.data->eval_sets()[0].prompts.begin() + 4);
  auto completions = engine.generate(prompts, 4, sc);
  std::vector<SequenceParts> parts;
  for (size_t i = 0; i < completions.size(); ++i) {
    parts.push_back({&prompts[i / 4].token_ids, &completions[i].token_ids, &completions[i].logprobs, 0.0f,
                     &completions[i].routing});
  }
  TrainBatch b = pack_sequences(parts, s.tok->pad_id(), at::kCPU);
  REQUIRE(b.routes.defined());
  const int64_t K = s.model->config.n_expert_used;
  // Same weights: replaying changes nothing, and the learner reproduces the rollout's log-probs.
  TrainBatch free_b = b;
  free_b.routes = at::Tensor();
  at::Tensor mask = b.loss_mask;
  auto gap = [&](const at::Tensor& lp) { return ((lp - b.old_logprobs).abs() * mask).sum().item<double>() / mask.sum().item<double>(); };
  CHECK(gap(score_tokens(s.model, b, 1.0, 4096)) < 1e-5);
  CHECK(gap(score_tokens(s.model, free_b, 1.0, 4096)) < 1e-5);
  // The routers move (as an update moves them): some tokens would now pick other experts.
  {
    at::NoGradGuard no_grad;
    at::manual_seed(2);
    for (auto& layer : s.model->layers) {
      if (layer->moe) layer->moe->gate->weight.add_(at::randn_like(layer->moe->gate->weight) * 0.3);
    }
  }
  std::vector<at::Tensor> forced;
  for (int64_t l = 0; l < b.routes.size(2) / K; ++l) forced.push_back(b.routes.narrow(2, l * K, K).reshape({-1, K}));
  policy::ForwardOutput out = s.model->forward(b.tokens, &forced);
  CHECK(out.replay_mismatch > 0);
  for (size_t l = 0; l < forced.size(); ++l) {
    at::Tensor recorded = forced[l].select(1, 0) >= 0;  // positions whose experts the rollout recorded
    at::Tensor a = std::get<0>(out.routes[l].sort(1)), want = std::get<0>(forced[l].sort(1));
    CHECK(at::equal(a.index({recorded}), want.index({recorded})));
  }
  const double replayed = gap(score_tokens(s.model, b, 1.0, 4096)), free = gap(score_tokens(s.model, free_b, 1.0, 4096));
  INFO("mean |learner - rollout| log-prob: replayed " << replayed << ", routed freely " << free);
  CHECK(replayed < free);
}

TEST_CASE("grpo_step with router_bias_rate on DeepSeek-V3: the score bias moves against the expert load", "[cpu]") {
  Setup s;
  policy::ModelConfig cfg = policy::read_model_config(
      grpo::test::source_path("tests/fixtures/models/deepseek_v3/config.json"));
  cfg.n_vocab = s.tok->vocab_size();
  s.model = policy::Transformer(cfg, 11);
  GrpoConfig g = small_step();
  g.router_bias_rate = 0.01;
  StepRig rig(s, g);
  std::vector<at::Tensor> before;
  for (auto& layer : s.model->layers) {
    if (layer->moe && layer->moe->score_bias.defined()) before.push_back(layer->moe->score_bias.clone());
  }
  REQUIRE_FALSE(before.empty());
  GrpoStepResult r = grpo_step(rig.ctx, 0);
  INFO(r.metrics.dump());
  REQUIRE(r.metrics.contains("expert_imbalance"));
  CHECK(r.metrics["expert_imbalance_max"].get<double>() > 1.0);
  size_t i = 0;
  for (auto& layer : s.model->layers) {
    if (!layer->moe || !layer->moe->score_bias.defined()) continue;
    at::Tensor step = layer->moe->score_bias - before[i++];
    // Every expert moved by exactly +-rate (or 0 at exactly the mean load), overloaded ones down.
    CHECK(step.abs().max().item<double>() == Approx(0.01).margin(1e-6));
  }
}

TEST_CASE("grpo_step with the KL in the reward: each sequence's KL to the reference comes off its reward", "[cpu]") {
  std::vector<nlohmann::json> m;
  for (double noise : {0.0, 0.2}) {
    Setup s;
    GrpoConfig g = small_step();
    LossConfig loss;
    loss.kl_coef = 0.1;
    loss.kl_placement = "reward";
    StepRig rig(s, g, at::kFloat, loss);
    rig.ctx.reference = policy::copy_model(s.model, at::kFloat);
    {
      at::NoGradGuard no_grad;
      at::manual_seed(4);
      for (auto& p : rig.ctx.reference->parameters()) p.add_(at::randn_like(p) * noise);
    }
    m.push_back(grpo_step(rig.ctx, 0).metrics);
  }
  INFO(m[0].dump() << "\n" << m[1].dump());
  CHECK(std::abs(m[0]["kl_reward"].get<double>()) < 1e-5);  // the reference is the policy: no KL
  CHECK(m[1]["kl_reward"].get<double>() > 0.01);             // k3 is >= 0, and the reference differs
  CHECK(m[1]["kl"].get<double>() == 0.0);                    // nothing of it in the loss
  CHECK(m[0]["reward_mean"] == m[1]["reward_mean"]);         // the task reward is reported as scored
  CHECK(m[0]["loss"] != m[1]["loss"]);                       // but the advantages moved
}

TEST_CASE("evaluate: greedy accuracy, avg@k with its standard error, pass@k curve, maj@k, one record per completion",
          "[cpu]") {
  Setup s;
  rollout::EngineConfig ec;
  ec.max_seq_len = 32;
  rollout::RolloutEngine engine(s.model, s.tok, ec);
  EvalConfig cfg;
  cfg.samples = 4;
  cfg.temperature = 1.0;
  cfg.top_p = 1.0;
  std::vector<nlohmann::json> records;
  int64_t last_done = 0;
  const auto& prompts = s.data->eval_sets()[0].prompts;
  EvalResult r = evaluate(engine, s.pool, s.mix, "heldout", prompts, 8, cfg, 7,
                          [&](const nlohmann::json& j) { records.push_back(j); },
                          [&](int64_t done, int64_t total) {
                            CHECK(total == 8 * 5);
                            last_done = done;
                          });
  CHECK(r.n == 8);
  CHECK(r.k == 4);
  CHECK(last_done == 40);
  REQUIRE(records.size() == 8 + 32);
  // Recompute each figure from the records.
  double greedy = 0, avg = 0, pass1 = 0, pass4 = 0, maj = 0;
  for (size_t p = 0; p < 8; ++p) {
    greedy += records[p]["verdict"] == "ok";
    std::vector<std::string> answers;
    std::vector<bool> correct;
    int c = 0;
    for (size_t j = 0; j < 4; ++j) {
      const auto& rec = records[8 + p * 4 + j];
      CHECK(rec["sample"] == static_cast<int64_t>(j));
      CHECK(rec["index"] == static_cast<int64_t>(p));
      c += rec["verdict"] == "ok";
      answers.push_back(rec["answer"]);
      correct.push_back(rec["verdict"] == "ok");
    }
    avg += c / 4.0;
    pass1 += pass_at_k(4, c, 1);
    pass4 += c > 0;
    maj += majority_correct(answers, correct);
  }
  CHECK(r.accuracy == Approx(greedy / 8));
  CHECK(r.avg_at_k == Approx(avg / 8));
  CHECK(r.maj_at_k == Approx(maj / 8));
  CHECK(r.pass_at_k == Approx(pass4 / 8));
  REQUIRE(r.pass_curve.size() == 3);  // pass@1, @2, @4
  CHECK(r.pass_curve[0].first == 1);
  CHECK(r.pass_curve[0].second == Approx(pass1 / 8));
  CHECK(r.pass_curve[0].second == Approx(r.avg_at_k));  // pass@1 estimates the same as avg@k
  CHECK(r.avg_at_k_se >= 0);
  // Scores with no answer to vote on: maj@k is not available (-1), not 0.
  rewards::ScorePool no_answers;
  no_answers.add_checker("math", [](std::string_view c, const rewards::Meta& m) {
    rewards::Score x = first_digit(c, m);
    x.answer.clear();
    return x;
  });
  EvalResult q = evaluate(engine, no_answers, s.mix, "heldout", prompts, 8, cfg, 7);
  CHECK(q.maj_at_k == -1);
  CHECK(q.to_json()["maj_at_k"].is_null());
  CHECK(q.avg_at_k == Approx(r.avg_at_k));  // same samples: the sampling stream depends only on the seed
}
