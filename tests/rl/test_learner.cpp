// The learner: SFT fits a batch, a GRPO step moves log-probs the way the advantages say, micro-batching
// does not change the update, the schedule has its shape, and a non-finite gradient skips the step.
#include "tests/catch_torch.h"

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <limits>

#include "policy/device.h"
#include "policy/tokenizer/char_tokenizer.h"
#include "rl/batch.h"
#include "rl/learner.h"
#include "tests/devices.h"
#include "tests/fork_ranks.h"
#include "tests/loopback.h"
#include "tests/temp_dir.h"

using namespace grpo;
using namespace grpo::rl;

namespace {

policy::Transformer make_model(uint64_t seed = 5) {
  return policy::Transformer(policy::model_preset("test-moe", 40), seed);
}

struct Seqs {
  std::vector<std::vector<int64_t>> prompts, completions;
  std::vector<std::vector<float>> logprobs;
  at::Device device = at::kCPU;
  TrainBatch pack(const std::vector<float>& adv, bool with_logprobs) const {
    std::vector<SequenceParts> parts;
    for (size_t i = 0; i < prompts.size(); ++i) {
      parts.push_back({&prompts[i], &completions[i], with_logprobs ? &logprobs[i] : nullptr, adv[i]});
    }
    return pack_sequences(parts, 0, device);
  }
};

Seqs make_seqs(int n) {
  Seqs s;
  for (int i = 0; i < n; ++i) {
    s.prompts.push_back({3, static_cast<int64_t>(4 + i % 7), 5});
    std::vector<int64_t> c;
    for (int k = 0; k < 2 + i % 4; ++k) c.push_back(6 + (i * 3 + k) % 30);
    s.completions.push_back(c);
  }
  return s;
}

// Fills s.logprobs with the model's own log-probs (ratio 1 at the first step).
void set_old_logprobs(Seqs& s, policy::Transformer& m, at::ScalarType dtype = at::kFloat) {
  TrainBatch b = s.pack(std::vector<float>(s.prompts.size(), 0.0f), false);
  at::Tensor lp = score_tokens(m, b, 1.0, 1 << 20, dtype).cpu();
  s.logprobs.clear();
  for (size_t i = 0; i < s.prompts.size(); ++i) {
    std::vector<float> v;
    for (size_t t = 0; t < s.completions[i].size(); ++t) {
      v.push_back(lp[static_cast<int64_t>(i)][static_cast<int64_t>(s.prompts[i].size() + t - 1)].item<float>());
    }
    s.logprobs.push_back(v);
  }
}

double seq_logprob(policy::Transformer& m, const Seqs& s, size_t i) {
  TrainBatch b = s.pack(std::vector<float>(s.prompts.size(), 0.0f), false);
  return score_tokens(m, b, 1.0, 1 << 20)[static_cast<int64_t>(i)].sum().item<double>();
}

// One GRPO update in `dtype` on `device`: the old log-probs are the model's own in that dtype, so the first ratio is
// 1; the positive-advantage sequence gains, the negative one loses; weights and AdamW's moments stay float32.
void check_grpo_step(const at::Device& device, at::ScalarType dtype) {
  policy::Transformer m = make_model();
  m->to(device);
  Seqs s = make_seqs(4);
  s.device = device;
  set_old_logprobs(s, m, dtype);
  const double before_good = seq_logprob(m, s, 0), before_bad = seq_logprob(m, s, 1);
  LearnerConfig cfg;
  cfg.optim.lr = 1e-2;
  cfg.aux_loss_coef = 0.0;
  cfg.dtype = dtype;
  Learner learner(m, cfg);
  UpdateStats st = learner.grpo_update(s.pack({1.0f, -1.0f, 0.0f, 0.0f}, true));
  CHECK(st.ratio_mean == Approx(1.0).margin(1e-5));
  CHECK(std::isfinite(st.grad_norm));
  CHECK(seq_logprob(m, s, 0) > before_good);
  CHECK(seq_logprob(m, s, 1) < before_bad);
  for (const auto& p : m->parameters()) CHECK(p.scalar_type() == at::kFloat);
}

}  // namespace

TEST_CASE("SFT steps fit a small batch", "[cpu]") {
  policy::Transformer m = make_model();
  LearnerConfig cfg;
  cfg.optim.lr = 3e-3;
  Learner learner(m, cfg);
  Seqs s = make_seqs(8);
  TrainBatch b = s.pack(std::vector<float>(8, 0.0f), false);
  double first = learner.sft_update(b).loss, last = first;
  for (int i = 0; i < 40; ++i) last = learner.sft_update(b).loss;
  CHECK(last < first * 0.5);
  CHECK(learner.step() == 41);
}

TEST_CASE("a GRPO step raises the log-prob of positive-advantage sequences", "[cpu]") {
  policy::Transformer m = make_model();
  Seqs s = make_seqs(4);
  set_old_logprobs(s, m);
  const double before_good = seq_logprob(m, s, 0), before_bad = seq_logprob(m, s, 1);
  LearnerConfig cfg;
  cfg.optim.lr = 1e-2;
  cfg.aux_loss_coef = 0.0;
  Learner learner(m, cfg);
  UpdateStats st = learner.grpo_update(s.pack({1.0f, -1.0f, 0.0f, 0.0f}, true));
  CHECK(st.ratio_mean == Approx(1.0).margin(1e-5));  // the old log-probs are the model's own
  CHECK(st.clip_fraction == 0.0);
  CHECK(seq_logprob(m, s, 0) > before_good);
  CHECK(seq_logprob(m, s, 1) < before_bad);
}

TEST_CASE("a GRPO step under bf16 autocast: ratio 1 at first, log-probs move as the advantages say", "[cpu]") {
  check_grpo_step(at::kCPU, at::kBFloat16);
}

TEST_CASE("a GRPO step on CUDA, float32 and bf16 autocast", "[gpu]") {
  GRPO_NEED_CUDA();
  check_grpo_step(at::kCUDA, at::kFloat);
  check_grpo_step(at::kCUDA, at::kBFloat16);
}

TEST_CASE("micro-batching and worker threads do not change the gradient", "[cpu]") {
  Seqs s = make_seqs(12);
  std::vector<float> adv = {1, -1, 0.5, -0.5, 2, 0, 1, -1, 0.3, -0.3, 1, -2};
  std::vector<at::Tensor> grads, weights;
  // (token budget, workers): one pass; micro-batches of one or two rows; two data-parallel threads.
  for (auto [budget, workers] : {std::pair<int64_t, int64_t>{1 << 20, 1}, {14, 1}, {1 << 20, 2}, {14, 2}}) {
    policy::Transformer m = make_model(9);
    set_old_logprobs(s, m);
    LearnerConfig cfg;
    cfg.micro_batch_tokens = budget;
    cfg.n_workers = workers;
    // NOTE: the load-balancing loss is computed per micro-batch (as HF computes it per forward): not additive.
    cfg.aux_loss_coef = 0.0;
    Learner learner(m, cfg);
    learner.grpo_update(s.pack(adv, true));
    std::vector<at::Tensor> flat, flat_w;  // the gradients stay in .grad after the step
    for (auto& p : m->parameters()) {
      flat.push_back(p.grad().reshape({-1}));
      flat_w.push_back(p.detach().reshape({-1}));
    }
    grads.push_back(at::cat(flat));
    weights.push_back(at::cat(flat_w));
  }
  const double scale = grads[0].abs().max().item<double>();
  CHECK(scale > 0);
  for (size_t i = 1; i < grads.size(); ++i) {
    INFO("configuration " << i);
    CHECK((grads[0] - grads[i]).abs().max().item<double>() < 1e-5 * scale);
  }
}

TEST_CASE("worker replicas follow the model's weights across steps", "[cpu]") {
  Seqs s = make_seqs(10);
  std::vector<float> adv = {1, -1, 0.5, -0.5, 2, 0, 1, -1, 0.3, -0.3};
  std::vector<double> after;
  for (int64_t workers : {1, 2}) {
    policy::Transformer m = make_model(4);
    LearnerConfig cfg;
    cfg.n_workers = workers;
    cfg.aux_loss_coef = 0.0;
    cfg.optim.lr = 1e-3;
    Learner learner(m, cfg);
    for (int step = 0; step < 3; ++step) {
      set_old_logprobs(s, m);
      learner.grpo_update(s.pack(adv, true));
    }
    after.push_back(seq_logprob(m, s, 0));
  }
  // Stale replicas would compute step 2 and 3 gradients at old weights and drift apart.
  CHECK(after[1] == Approx(after[0]).epsilon(1e-4));
}

TEST_CASE("learning-rate schedule: warm-up, constant, cosine", "[cpu]") {
  policy::Transformer m = make_model();
  LearnerConfig cfg;
  cfg.optim.lr = 1e-3;
  cfg.optim.warmup_steps = 10;
  Learner constant(m, cfg);
  CHECK(constant.lr_at(0) == Approx(1e-4));
  CHECK(constant.lr_at(9) == Approx(1e-3));
  CHECK(constant.lr_at(500) == Approx(1e-3));
  cfg.optim.schedule = "cosine";
  cfg.optim.total_steps = 110;
  cfg.optim.min_lr_ratio = 0.1;
  Learner cosine(m, cfg);
  CHECK(cosine.lr_at(10) == Approx(1e-3));
  CHECK(cosine.lr_at(60) == Approx(1e-3 * (0.1 + 0.9 * 0.5)));
  CHECK(cosine.lr_at(110) == Approx(1e-4));
}

TEST_CASE("a non-finite gradient skips the update", "[cpu]") {
  policy::Transformer m = make_model();
  Seqs s = make_seqs(3);
  set_old_logprobs(s, m);
  at::Tensor before = m->parameters()[0].detach().clone();
  Learner learner(m, LearnerConfig{});
  UpdateStats st = learner.grpo_update(s.pack({std::numeric_limits<float>::infinity(), 0.0f, 1.0f}, true));
  CHECK(st.skipped);
  CHECK(at::equal(before, m->parameters()[0].detach()));
}

TEST_CASE("AdamW decays the matrices only: norms and biases keep their values", "[cpu]") {
  policy::Transformer m = make_model();
  std::map<std::string, at::Tensor> before;
  for (const auto& p : m->named_parameters()) before[p.key()] = p.value().clone();
  LearnerConfig cfg;
  cfg.optim.lr = 0.1;
  cfg.optim.weight_decay = 0.5;
  cfg.aux_loss_coef = 0;  // its gradient would move the routers
  Learner learner(m, cfg);
  Seqs s = make_seqs(4);
  TrainBatch b = s.pack(std::vector<float>(4, 0.0f), false);
  b.loss_mask.zero_();  // no loss: zero gradients, so the step is the decay alone
  learner.sft_update(b);
  int decayed = 0, kept = 0;
  for (const auto& p : m->named_parameters()) {
    INFO(p.key());
    const bool vector_like = p.value().dim() < 2 || p.key().find("norm") != std::string::npos;
    if (vector_like) {
      CHECK(at::equal(p.value(), before[p.key()]));
      ++kept;
    } else {
      CHECK(at::allclose(p.value(), before[p.key()] * (1 - 0.1 * 0.5), 1e-6, 1e-7));
      ++decayed;
    }
  }
  CHECK(decayed > 0);
  CHECK(kept > 0);  // the RMSNorm gains
}

TEST_CASE("activation checkpointing gives the same gradients, the load-balancing loss's included, in fp32 and bf16",
          "[cpu]") {
  for (at::ScalarType dtype : {at::kFloat, at::kBFloat16}) {
    std::vector<std::vector<at::Tensor>> grads;
    for (bool ckpt : {false, true}) {
      policy::Transformer m = make_model();
      Seqs s = make_seqs(6);
      set_old_logprobs(s, m);
      LearnerConfig cfg;
      cfg.optim.lr = 1e-30;  // the step itself does not matter here
      cfg.dtype = dtype;
      cfg.checkpoint_layers = ckpt;
      REQUIRE(cfg.aux_loss_coef > 0);
      Learner learner(m, cfg);
      UpdateStats st = learner.grpo_update(s.pack({1, -1, 0.5, -0.5, 2, -2}, true));
      CHECK(st.aux_loss > 0);
      std::vector<at::Tensor> g;
      for (const auto& p : m->parameters()) {
        REQUIRE(p.grad().defined());
        g.push_back(p.grad().clone());
      }
      grads.push_back(g);
    }
    INFO(policy::dtype_name(dtype));
    double worst = 0;
    for (size_t i = 0; i < grads[0].size(); ++i) worst = std::max(worst, (grads[0][i] - grads[1][i]).abs().max().item<double>());
    CHECK(worst < (dtype == at::kFloat ? 1e-6 : 1e-3));
    CHECK(grads[0][0].abs().sum().item<double>() > 0);
  }
}

namespace {

// Rank `rank` of `world` in a child process: 3 GRPO updates over its share of 8 sequences (the global batch), its
// final parameters written flat to `out` by rank 0. Exit status 0 when it ran through.
// With all_on_first, rank 0 takes every sequence and the others none (they join with empty batches).
[[noreturn]] void data_parallel_child(int64_t rank, int64_t world, int64_t port, LossAggregation agg,
                                      const std::string& out, bool all_on_first) {
  int status = 0;
  try {
    std::unique_ptr<Dist> dist;
    if (world > 1) {
      dist = std::make_unique<Dist>(grpo::test::loopback_env(rank, world, port), std::chrono::seconds(60));
    }
    policy::Transformer m = make_model();
    Seqs all = make_seqs(8);
    set_old_logprobs(all, m);
    const std::vector<float> adv = {1.0f, -0.5f, 0.25f, -1.0f, 2.0f, -2.0f, 0.5f, -0.25f};
    const int64_t begin = all_on_first ? (rank == 0 ? 0 : 8) : rank * 8 / world;
    const int64_t end = all_on_first ? 8 : (rank + 1) * 8 / world;
    Seqs mine;
    std::vector<float> my_adv;
    for (int64_t i = begin; i < end; ++i) {
      mine.prompts.push_back(all.prompts[i]);
      mine.completions.push_back(all.completions[i]);
      mine.logprobs.push_back(all.logprobs[i]);
      my_adv.push_back(adv[static_cast<size_t>(i)]);
    }
    LearnerConfig cfg;
    cfg.optim.lr = 5e-4;  // AdamW turns float rounding in near-zero gradients into lr-sized steps; RL uses far less
    cfg.loss.aggregation = agg;
    REQUIRE(cfg.aux_loss_coef > 0);  // the MoE's load-balancing loss, normalised over the global batch too
    // One sequence per micro-batch, however the batch is split: the load-balancing loss is taken per micro-batch
    // (as transformers does per forward), so only equal micro-batches give equal losses.
    cfg.micro_batch_tokens = 8;
    Learner learner(m, cfg);
    learner.set_dist(dist.get());
    for (int step = 0; step < 3; ++step) {
      const TrainBatch b = mine.prompts.empty() ? empty_batch(at::kCPU) : mine.pack(my_adv, true);
      REQUIRE(learner.global_rows(b) == 8);
      learner.grpo_update(b);
    }
    if (rank == 0) {
      std::vector<at::Tensor> flat;
      for (const auto& p : m->parameters()) flat.push_back(p.detach().reshape({-1}));
      at::Tensor w = at::cat(flat).contiguous();
      std::ofstream(out, std::ios::binary).write(reinterpret_cast<const char*>(w.data_ptr<float>()),
                                                 static_cast<std::streamsize>(w.numel() * sizeof(float)));
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rank %lld: %s\n", static_cast<long long>(rank), e.what());
    status = 1;
  }
  std::fflush(stderr);
  _exit(status);
}

// Runs `world` ranks as child processes; returns rank 0's final parameters.
at::Tensor run_ranks(int64_t world, LossAggregation agg, const std::string& dir, bool all_on_first = false) {
  const int64_t port = grpo::test::free_port();
  const std::string out = dir + "/weights_" + std::to_string(world) + ".bin";
  std::vector<pid_t> pids;
  for (int64_t r = 0; r < world; ++r) {
    pid_t p = ::fork();
    REQUIRE(p >= 0);
    if (p == 0) data_parallel_child(r, world, port, agg, out, all_on_first);
    pids.push_back(p);
  }
  for (pid_t p : pids) {
    int status = 0;
    ::waitpid(p, &status, 0);
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);
  }
  std::ifstream in(out, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  REQUIRE(!bytes.empty());
  return at::from_blob(bytes.data(), {static_cast<int64_t>(bytes.size() / sizeof(float))}, at::kFloat).clone();
}

}  // namespace

TEST_CASE("data-parallel learner over Gloo: 2 and 4 processes end with one process's weights after 3 steps", "[cpu]") {
  // The parent computes nothing with LibTorch before forking: every run, the single process too, is a child.
  grpo::test::TempDir dir;
  for (LossAggregation agg : {LossAggregation::token_mean, LossAggregation::seq_mean_token_mean}) {
    at::Tensor one = run_ranks(1, agg, dir.path.string());
    for (int64_t world : {2, 4}) {
      at::Tensor many = run_ranks(world, agg, dir.path.string());
      INFO(world << " ranks, aggregation " << static_cast<int>(agg));
      REQUIRE(many.numel() == one.numel());
      CHECK((many - one).abs().max().item<double>() < 1e-5);
    }
    // And the updates did move the weights (a no-op would pass the comparison).
    policy::Transformer fresh = make_model();
    std::vector<at::Tensor> flat;
    for (const auto& p : fresh->parameters()) flat.push_back(p.detach().reshape({-1}));
    CHECK((at::cat(flat) - one).abs().max().item<double>() > 1e-4);
  }
}

TEST_CASE("a data-parallel rank with nothing to learn from joins the update with zero rows", "[cpu]") {
  // Every group of a rank's slice can lack signal; that rank must still take part in the collectives (else its peers
  // wait out the timeout). Rank 0 holds all 8 sequences, rank 1 none: one process's weights.
  grpo::test::TempDir dir;
  at::Tensor one = run_ranks(1, LossAggregation::token_mean, dir.path.string());
  at::Tensor lopsided = run_ranks(2, LossAggregation::token_mean, dir.path.string(), /*all_on_first=*/true);
  REQUIRE(lopsided.numel() == one.numel());
  CHECK((lopsided - one).abs().max().item<double>() < 1e-5);
}

TEST_CASE("on CUDA a one-rank NCCL group sums gradients and broadcasts weights: the update equals the plain learner's",
          "[gpu]") {
  // One GPU holds one rank (NCCL refuses two ranks on a device): all-reduce and broadcast are then identities, and a
  // learner over the group must take exactly the plain learner's step, through NCCL's code path.
  GRPO_NEED_CUDA();
  const at::Device cuda(at::kCUDA, 0);
  Dist dist(grpo::test::loopback_env(0, 1, grpo::test::free_port()), std::chrono::seconds(60), cuda);
  REQUIRE(std::string(dist.backend(cuda)) == "nccl");
  std::vector<at::Tensor> weights;
  for (bool grouped : {false, true}) {
    policy::Transformer m = make_model();
    m->to(cuda);
    Seqs s = make_seqs(6);
    s.device = cuda;
    set_old_logprobs(s, m);
    LearnerConfig cfg;
    cfg.optim.lr = 1e-3;
    Learner learner(m, cfg);
    if (grouped) learner.set_dist(&dist);
    for (int step = 0; step < 2; ++step) learner.grpo_update(s.pack({1, -1, 0.5, -0.5, 2, -2}, true));
    std::vector<at::Tensor> params;
    for (const auto& p : m->parameters()) params.push_back(p.detach());
    if (grouped) dist.broadcast(params, 0, "the weights");  // NCCL's self-loop leaves them as they are
    std::vector<at::Tensor> flat;
    for (const auto& p : params) flat.push_back(p.reshape({-1}).cpu());
    weights.push_back(at::cat(flat));
  }
  CHECK((weights[0] - weights[1]).abs().max().item<double>() < 1e-6);
}

TEST_CASE("distributed settings from the environment are checked", "[cpu]") {
  ::setenv("WORLD_SIZE", "2", 1);
  ::unsetenv("RANK");
  CHECK_THROWS_WITH(DistEnv::from_environment(), Catch::Contains("without RANK"));
  ::setenv("RANK", "2", 1);
  CHECK_THROWS_WITH(DistEnv::from_environment(), Catch::Contains("RANK='2'"));
  ::setenv("RANK", "1", 1);
  ::setenv("MASTER_PORT", "http", 1);
  CHECK_THROWS_WITH(DistEnv::from_environment(), Catch::Contains("MASTER_PORT"));
  ::setenv("MASTER_PORT", "29999", 1);
  DistEnv e = DistEnv::from_environment();
  CHECK(e.rank == 1);
  CHECK(e.world_size == 2);
  CHECK(e.master_port == 29999);
  for (const char* v : {"WORLD_SIZE", "RANK", "MASTER_PORT"}) ::unsetenv(v);
  CHECK_FALSE(DistEnv::from_environment().distributed());
}

TEST_CASE("a rank that dies ends the others' update with an error naming the collective, within the timeout", "[cpu]") {
  grpo::test::TempDir dir;
  const int64_t port = grpo::test::free_port();
  auto run = grpo::test::fork_ranks(2, (dir.path / "log.txt").string(), [&](int64_t r) {
    Dist dist(grpo::test::loopback_env(r, 2, port), std::chrono::seconds(5));
    dist.barrier("joined");  // both connected
    if (r == 1) _exit(0);    // then rank 1 dies, before the update's first collective
    policy::Transformer m = make_model();
    Seqs s = make_seqs(4);
    set_old_logprobs(s, m);
    Learner learner(m, LearnerConfig());
    learner.set_dist(&dist);
    UpdateStats up = learner.grpo_update(s.pack({1, -1, 1, -1}, true));
    throw std::runtime_error("rank 0: the update completed with a dead peer (loss " + std::to_string(up.loss) + ")");
  });
  INFO(run.log);
  CHECK(run.status[0] == 1);  // an error, not SIGPIPE
  CHECK(run.log.find("rank 0: all-reduce of the batch's token and sequence counts failed or timed out") !=
        std::string::npos);
  CHECK(run.seconds < 30);
}
