// The rollout engine: its log-probs equal the learner's for the same tokens, samples do not depend on batch
// composition, sampling filters behave, and generation stops where it should.
#include "tests/catch_torch.h"

#include <algorithm>
#include <map>
#include <memory>

#include <ATen/core/grad_mode.h>

#include "policy/tokenizer/char_tokenizer.h"
#include "rl/batch.h"
#include "rl/learner.h"
#include "rollout/engine.h"
#include "tests/devices.h"
#include "tests/shared_data.h"

using namespace grpo;
using grpo::rollout::Completion;
using grpo::rollout::Prompt;

namespace {

// Brute force: how many tokens of `ids` a completion with stop string `stop` keeps (up to and including the token
// whose addition first makes the decoded text contain it); 0 when it never does.
size_t stop_cut(const grpo::policy::Tokenizer& tok, const std::vector<int64_t>& ids, const std::string& stop) {
  for (size_t j = 1; j <= ids.size(); ++j) {
    if (tok.decode(std::vector<int64_t>(ids.begin(), ids.begin() + static_cast<long>(j))).find(stop) !=
        std::string::npos)
      return j;
  }
  return 0;
}

// The most frequent token of a run other than `skip`.
int64_t common_token(const std::vector<grpo::rollout::Completion>& out, int64_t skip) {
  std::map<int64_t, int> freq;
  for (const auto& c : out) {
    for (int64_t t : c.token_ids) freq[t] += t != skip;
  }
  return std::max_element(freq.begin(), freq.end(), [](auto& a, auto& b) { return a.second < b.second; })->first;
}

struct Fixture {
  std::shared_ptr<policy::CharTokenizer> tok = std::make_shared<policy::CharTokenizer>();
  policy::Transformer model{nullptr};
  explicit Fixture(uint64_t seed = 3) {
    policy::ModelConfig cfg = policy::model_preset("test-moe", tok->vocab_size());
    cfg.initializer_range = 0.15;  // a varied distribution: samples differ from each other
    model = policy::Transformer(cfg, seed);
  }
  std::vector<Prompt> prompts(int n) const {
    std::vector<Prompt> out;
    for (int i = 0; i < n; ++i) {
      Prompt p;
      p.id = 100 + i;
      p.text = std::string(static_cast<size_t>(3 + i % 5), static_cast<char>('a' + i % 26)) + "=";
      p.token_ids = tok->encode(p.text);
      out.push_back(p);
    }
    return out;
  }
  rollout::RolloutEngine engine(int64_t max_batch, int64_t workers = 1) const {
    rollout::EngineConfig ec;
    ec.max_batch = max_batch;
    ec.n_workers = workers;
    ec.max_seq_len = 48;
    return rollout::RolloutEngine(model, tok, ec);
  }
};

rollout::SamplingConfig sampling(double temperature, int64_t max_new = 12) {
  rollout::SamplingConfig s;
  s.temperature = temperature;
  s.max_new_tokens = max_new;
  s.seed = 42;
  return s;
}

}  // namespace

namespace {

// Largest and mean |rollout log-prob - learner log-prob| over the sampled tokens of 6 prompts x 3 samples: the engine
// generating with its weights in `engine_dtype`, the learner scoring the same tokens in `learner_dtype` (autocast over
// the model's own weights), both on the model's device.
std::pair<double, double> rollout_learner_diff(const Fixture& f, at::ScalarType engine_dtype,
                                               at::ScalarType learner_dtype, double temperature,
                                               rollout::RolloutEngine* engine_in = nullptr) {
  auto prompts = f.prompts(6);
  rollout::EngineConfig ec;
  ec.max_batch = 5;  // fewer slots than sequences: continuous batching refills slots
  ec.max_seq_len = 48;
  ec.dtype = engine_dtype;
  rollout::RolloutEngine own(f.model, f.tok, ec);
  rollout::RolloutEngine& engine = engine_in != nullptr ? *engine_in : own;
  auto completions = engine.generate(prompts, 3, sampling(temperature));
  std::vector<rl::SequenceParts> parts;
  for (size_t i = 0; i < completions.size(); ++i) {
    parts.push_back({&prompts[i / 3].token_ids, &completions[i].token_ids, &completions[i].logprobs, 0.0f});
  }
  rl::TrainBatch batch = rl::pack_sequences(parts, f.tok->pad_id(), f.model->embed_tokens->weight.device());
  policy::Transformer model = f.model;
  at::Tensor learner = rl::score_tokens(model, batch, temperature, 1 << 20, learner_dtype);
  at::Tensor mask = batch.loss_mask;
  REQUIRE(mask.sum().item<double>() > 20);  // real tokens are compared
  at::Tensor diff = (learner - batch.old_logprobs).abs() * mask;
  return {diff.max().item<double>(), (diff.sum() / mask.sum()).item<double>()};
}

// float32 at T = 1 and 0.7 within fp32_tol, then bf16: the engine's bf16 copy of the weights against the learner's
// autocast over float32 weights. The weights round alike; the residual stream does not (bf16 in the engine, float32
// under autocast). Measured on the CPU: mean 0.008 to 0.019 and max up to 0.15 over runs (PyPI's 2.11 varies from run
// to run in bf16); a stale copy of the weights gives a mean of 0.6.
void check_rollout_matches_learner(const Fixture& f, double fp32_tol) {
  for (double temperature : {1.0, 0.7}) {
    auto [max_diff, mean_diff] = rollout_learner_diff(f, at::kFloat, at::kFloat, temperature);
    INFO("fp32, temperature " << temperature << ", max abs diff " << max_diff);
    CHECK(max_diff < fp32_tol);
  }
  auto [max_diff, mean_diff] = rollout_learner_diff(f, at::kBFloat16, at::kBFloat16, 1.0);
  INFO("bf16: max abs diff " << max_diff << ", mean " << mean_diff);
  CHECK(max_diff < 2.0);  // the tail: a rare token's log-prob moves most (1.08 seen)
  CHECK(mean_diff < 0.05);
}

}  // namespace

TEST_CASE("rollout log-probs equal the learner's log-probs of the same tokens", "[cpu]") {
  check_rollout_matches_learner(Fixture(), 1e-5);
}

TEST_CASE("rollout log-probs equal the learner's log-probs of the same tokens, on CUDA", "[gpu]") {
  GRPO_NEED_CUDA();
  at::globalContext().setFloat32MatmulPrecision("highest");  // no TF32
  Fixture f;
  f.model->to(at::kCUDA);
  check_rollout_matches_learner(f, 1e-4);
}

TEST_CASE("a bf16 engine keeps its own copy of the weights, which sync_weights refreshes", "[cpu]") {
  Fixture f;
  rollout::EngineConfig ec;
  ec.max_seq_len = 48;
  ec.dtype = at::kBFloat16;
  rollout::RolloutEngine engine(f.model, f.tok, ec);
  CHECK(f.model->embed_tokens->weight.scalar_type() == at::kFloat);  // the learner's weights stay float32
  {
    at::NoGradGuard no_grad;
    for (auto& p : f.model->parameters()) p.add_(at::randn_like(p) * 0.05);  // an "update"
  }
  auto [stale_max, stale_mean] = rollout_learner_diff(f, at::kBFloat16, at::kBFloat16, 1.0, &engine);
  engine.sync_weights(7);
  auto [fresh_max, fresh_mean] = rollout_learner_diff(f, at::kBFloat16, at::kBFloat16, 1.0, &engine);
  INFO("mean |diff| before sync " << stale_mean << ", after " << fresh_mean);
  CHECK(stale_mean > 5 * fresh_mean);
  CHECK(fresh_mean < 0.05);
  CHECK(engine.generate(f.prompts(1), 1, sampling(1.0))[0].policy_version == 7);
}

TEST_CASE("the same seed gives the same samples at batch sizes 1 and 16, and with 2 workers", "[cpu]") {
  Fixture f;
  auto prompts = f.prompts(8);
  auto one = f.engine(1).generate(prompts, 2, sampling(1.0));
  auto many = f.engine(16).generate(prompts, 2, sampling(1.0));
  REQUIRE(one.size() == many.size());
  int distinct = 0;
  for (size_t i = 0; i < one.size(); ++i) {
    CHECK(one[i].token_ids == many[i].token_ids);
    CHECK(one[i].prompt_id == many[i].prompt_id);
    CHECK(one[i].sample_index == many[i].sample_index);
    for (size_t k = 0; k < one[i].logprobs.size(); ++k) CHECK(one[i].logprobs[k] == Approx(many[i].logprobs[k]).margin(1e-5));
    if (i > 0 && one[i].token_ids != one[i - 1].token_ids) ++distinct;
  }
  CHECK(distinct > 8);  // real sampling, not one repeated sequence
  // Two worker threads with their own caches draw the same samples.
  auto threaded = f.engine(16, 2).generate(prompts, 2, sampling(1.0));
  for (size_t i = 0; i < one.size(); ++i) CHECK(threaded[i].token_ids == one[i].token_ids);
  // A different seed gives different samples.
  auto other_seed = sampling(1.0);
  other_seed.seed = 43;
  auto other = f.engine(16).generate(prompts, 2, other_seed);
  int same = 0;
  for (size_t i = 0; i < one.size(); ++i) same += other[i].token_ids == one[i].token_ids;
  CHECK(same < static_cast<int>(one.size()) / 2);
}

TEST_CASE("greedy decoding and its limits of top-k and top-p", "[cpu]") {
  Fixture f;
  auto prompts = f.prompts(4);
  auto greedy = f.engine(8).generate(prompts, 1, sampling(0.0));
  auto top1 = sampling(1.0);
  top1.top_k = 1;
  auto tiny_p = sampling(1.0);
  tiny_p.top_p = 1e-6;
  auto by_k = f.engine(8).generate(prompts, 1, top1);
  auto by_p = f.engine(8).generate(prompts, 1, tiny_p);
  for (size_t i = 0; i < greedy.size(); ++i) {
    CHECK(by_k[i].token_ids == greedy[i].token_ids);
    CHECK(by_p[i].token_ids == greedy[i].token_ids);
  }
}

TEST_CASE("sampler: filtered tokens are never drawn, frequencies follow the distribution", "[cpu]") {
  // Row distribution (0.5, 0.3, 0.2, 0): top_k=2 never draws token 2 or 3; top_p=0.6 keeps tokens 0 and 1.
  at::Tensor lp = at::log(at::tensor(std::vector<float>{0.5f, 0.3f, 0.2f, 0.0f})).unsqueeze(0).repeat({4000, 1});
  std::vector<double> u;
  for (int i = 0; i < 4000; ++i) u.push_back(rollout::stream_uniform(1, 0, static_cast<uint64_t>(i), 0));
  rollout::SamplingConfig s;
  at::Tensor plain = rollout::sample_tokens(lp, u, s);
  CHECK((plain == 3).sum().item<int64_t>() == 0);
  CHECK((plain == 0).to(at::kFloat).mean().item<double>() == Approx(0.5).margin(0.03));
  CHECK((plain == 2).to(at::kFloat).mean().item<double>() == Approx(0.2).margin(0.03));
  s.top_k = 2;
  at::Tensor k2 = rollout::sample_tokens(lp, u, s);
  CHECK((k2 >= 2).sum().item<int64_t>() == 0);
  CHECK((k2 == 0).to(at::kFloat).mean().item<double>() == Approx(0.5 / 0.8).margin(0.03));
  s.top_k = 0;
  s.top_p = 0.6;
  at::Tensor p6 = rollout::sample_tokens(lp, u, s);
  CHECK((p6 >= 2).sum().item<int64_t>() == 0);
  // min_p = 0.5: tokens below 0.25 (half of 0.5) go: 0 and 1 stay, in proportion 0.5 : 0.3.
  s.top_p = 1.0;
  s.min_p = 0.5;
  at::Tensor m5 = rollout::sample_tokens(lp, u, s);
  CHECK((m5 >= 2).sum().item<int64_t>() == 0);
  CHECK((m5 == 0).to(at::kFloat).mean().item<double>() == Approx(0.5 / 0.8).margin(0.03));
  // The filters compose: top_k = 1 after min_p is greedy.
  s.top_k = 1;
  CHECK((rollout::sample_tokens(lp, u, s) == 0).all().item<bool>());
  s.min_p = 1.0;
  CHECK_THROWS_WITH(s.validate(), Catch::Contains("min_p must be in [0, 1)"));
}

TEST_CASE("generation stops at EOS, at max_new_tokens and at the cache's end", "[cpu]") {
  Fixture f;
  auto prompts = f.prompts(5);
  auto out = f.engine(8).generate(prompts, 4, sampling(1.0, 7));
  int stops = 0;
  for (const Completion& c : out) {
    CHECK(c.token_ids.size() == c.logprobs.size());
    CHECK(c.token_ids.size() <= 7);
    if (c.finish_reason == rollout::FinishReason::stop) {
      ++stops;
      CHECK(c.token_ids.back() == f.tok->eos_id());
      CHECK(c.text == f.tok->decode(std::vector<int64_t>(c.token_ids.begin(), c.token_ids.end() - 1)));
    } else {
      CHECK(c.token_ids.size() == 7);
    }
  }
  // A stop string of any length ends a completion with the token that completes it in the decoded text, and stays
  // in the text (</answer> must reach the verifier). Take a two-token string from the run above and check every
  // completion against the brute-force prefix search.
  std::string stop;
  for (const Completion& c : out) {
    if (c.token_ids.size() >= 4 && c.token_ids[2] != f.tok->eos_id() && c.token_ids[3] != f.tok->eos_id()) {
      stop = f.tok->decode({c.token_ids[2], c.token_ids[3]});
      break;
    }
  }
  REQUIRE(stop.size() >= 2);
  rollout::EngineConfig with_stop;
  with_stop.max_seq_len = 48;
  with_stop.stop = {stop};
  auto stopped = rollout::RolloutEngine(f.model, f.tok, with_stop).generate(prompts, 4, sampling(1.0, 7));
  int ended_by_it = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    const size_t cut = stop_cut(*f.tok, out[i].token_ids, stop);
    if (cut == 0) {
      CHECK(stopped[i].token_ids == out[i].token_ids);
      continue;
    }
    ++ended_by_it;
    CHECK(stopped[i].token_ids == std::vector<int64_t>(out[i].token_ids.begin(), out[i].token_ids.begin() + cut));
    CHECK(stopped[i].finish_reason == rollout::FinishReason::stop);
    CHECK(stopped[i].text.find(stop) != std::string::npos);
    CHECK(stopped[i].logprobs.size() == stopped[i].token_ids.size());
  }
  CHECK(ended_by_it > 0);
  rollout::EngineConfig bad;
  bad.stop = {""};
  REQUIRE_THROWS_WITH(rollout::RolloutEngine(f.model, f.tok, bad), Catch::Contains("empty"));
  // Every EOS id stops, and is not part of the text.
  rollout::EngineConfig two_eos;
  two_eos.max_seq_len = 48;
  two_eos.eos_ids = {f.tok->eos_id(), common_token(out, f.tok->eos_id())};
  auto eos2 = rollout::RolloutEngine(f.model, f.tok, two_eos).generate(prompts, 4, sampling(1.0, 7));
  int ended_by_second = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    auto first = std::find_if(out[i].token_ids.begin(), out[i].token_ids.end(),
                              [&](int64_t t) { return t == two_eos.eos_ids[1] || t == two_eos.eos_ids[0]; });
    if (first == out[i].token_ids.end()) continue;
    CHECK(eos2[i].token_ids == std::vector<int64_t>(out[i].token_ids.begin(), first + 1));
    CHECK(eos2[i].text == f.tok->decode(std::vector<int64_t>(out[i].token_ids.begin(), first)));
    ended_by_second += *first == two_eos.eos_ids[1];
  }
  CHECK(ended_by_second > 0);
  // The cache's end: a slot of 10 positions holds at most 10 tokens, plus the last one sampled.
  rollout::EngineConfig ec;
  ec.max_seq_len = 10;
  auto tight = rollout::RolloutEngine(f.model, f.tok, ec).generate(prompts, 1, sampling(1.0, 50));
  for (size_t i = 0; i < tight.size(); ++i) {
    CHECK(static_cast<int64_t>(prompts[i].token_ids.size() + tight[i].token_ids.size()) <= 10 + 1);
  }
  // Prompts that do not fit are refused with a hint.
  auto long_prompt = f.prompts(1);
  long_prompt[0].token_ids.assign(60, 5);
  REQUIRE_THROWS_WITH(f.engine(2).generate(long_prompt, 1, sampling(1.0)), Catch::Contains("max_seq_len"));
}

TEST_CASE("embedding rows beyond the tokenizer are never sampled", "[cpu]") {
  // A checkpoint pads its embedding past the tokenizer (Qwen2.5: 151,936 rows for 151,665 tokens). Make the padding
  // rows the only ones with non-zero logits: unlimited, the sampler picks them and decoding fails as it did in a real
  // run ("token id ... is outside the vocabulary"); limited to the tokenizer's ids, it never does.
  auto tok = std::make_shared<policy::CharTokenizer>();
  const int64_t V = tok->vocab_size(), padded = V + 64;
  policy::ModelConfig cfg = policy::model_preset("test-moe", padded);
  policy::Transformer model(cfg, 4);
  {
    at::NoGradGuard no_grad;
    model->lm_head->weight.narrow(0, 0, V).zero_();
    model->lm_head->weight.narrow(0, V, padded - V).normal_(0.0, 5.0);
  }
  std::vector<Prompt> prompts(4);
  for (int i = 0; i < 4; ++i) {
    prompts[i].id = i;
    prompts[i].token_ids = tok->encode("12+3=");
  }
  rollout::SamplingConfig s;
  s.max_new_tokens = 8;
  rollout::EngineConfig ec;
  ec.max_seq_len = 32;
  REQUIRE_THROWS_WITH(rollout::RolloutEngine(model, tok, ec).generate(prompts, 4, s), Catch::Contains("vocabulary"));
  model->set_output_vocab(V);
  auto out = rollout::RolloutEngine(model, tok, ec).generate(prompts, 4, s);
  for (const auto& c : out) {
    for (int64_t t : c.token_ids) CHECK(t < V);
  }
  CHECK_THROWS_WITH(model->set_output_vocab(padded + 1), Catch::Contains("vocab_size"));
}

TEST_CASE("a stop string completed inside a BPE token that runs past it ends the completion there", "[cpu][shared]") {
  GRPO_NEED_SHARED_DATA("tokenizers/qwen2_vocab");
  // A random model over the real Qwen2 vocabulary samples multi-character pieces. Take a stop string that ends inside
  // a sampled token (the last character of that token cut off): the completion must end with that token, kept
  // whole, exactly where the decoded text first contains the stop string.
  std::shared_ptr<policy::Tokenizer> tok = policy::load_tokenizer(grpo::test::shared_data_path("tokenizers/qwen2_vocab"));
  policy::ModelConfig cfg = policy::model_preset("test-moe", tok->vocab_size());
  cfg.initializer_range = 0.3;
  policy::Transformer model(cfg, 9);
  std::vector<Prompt> prompts(4);
  for (int i = 0; i < 4; ++i) {
    prompts[i].id = i;
    prompts[i].token_ids = tok->encode("The answer is");
  }
  rollout::SamplingConfig s;
  s.max_new_tokens = 12;
  s.seed = 3;
  rollout::EngineConfig ec;
  ec.max_seq_len = 32;
  auto free_run = rollout::RolloutEngine(model, tok, ec).generate(prompts, 2, s);
  std::string stop;
  for (const auto& c : free_run) {
    for (size_t j = 1; j + 1 < c.token_ids.size() && stop.empty(); ++j) {
      const std::string piece = tok->decode({c.token_ids[j]});
      // An ASCII piece of 3+ characters: the stop string is the previous token's text and this piece minus its end.
      if (piece.size() >= 3 && std::all_of(piece.begin(), piece.end(), [](unsigned char ch) { return ch < 0x80; }))
        stop = tok->decode({c.token_ids[j - 1]}) + piece.substr(0, piece.size() - 1);
    }
  }
  REQUIRE(!stop.empty());
  ec.stop = {stop};
  auto stopped = rollout::RolloutEngine(model, tok, ec).generate(prompts, 2, s);
  int ended = 0;
  for (size_t i = 0; i < free_run.size(); ++i) {
    const auto& ids = free_run[i].token_ids;
    const size_t cut = stop_cut(*tok, ids, stop);
    if (cut == 0) {
      CHECK(stopped[i].token_ids == ids);
      continue;
    }
    ++ended;
    CHECK(stopped[i].token_ids == std::vector<int64_t>(ids.begin(), ids.begin() + static_cast<long>(cut)));
    CHECK(stopped[i].finish_reason == rollout::FinishReason::stop);
    CHECK(stopped[i].text.find(stop) != std::string::npos);
  }
  CHECK(ended > 0);
}

