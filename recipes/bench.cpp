// grpo bench: decode tokens/s of the rollout engine, forward+backward tokens/s of the learner; see bench.h.
#include "recipes/bench.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#ifdef GRPO_HAS_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

#include "kernels/check.h"
#include "policy/device.h"
#include "policy/logprobs.h"
#include "policy/tokenizer/tokenizer_files.h"
#include "policy/weights.h"
#include "recipes/cli_args.h"
#include "rl/dist.h"
#include "rl/learner.h"
#include "rl/trainer.h"
#include "rollout/engine.h"

namespace grpo::recipes {

namespace {

const char* kUsage =
    "usage: grpo bench decode --model DIR [--device D] [--dtype T] [--sequences S] [--samples G] [--prompt-len P]\n"
    "                         [--new-tokens N] [--threads N] [--block-size B] [--no-share-prefix]\n"
    "       grpo bench logprobs [--tokens M] [--hidden C] [--vocab V] [--naive] [--device D]\n"
    "       grpo launch --nproc N -- bench broadcast --model DIR [--iters K] [--device D]\n"
    "       grpo bench learner --model DIR [--device D] [--dtype T] [--micro-batch-tokens M] [--seq-len L]\n"
    "                          [--activation-checkpointing]\n"
    "                          [--micro-batches K] [--steps N]\n";
const char* kDetails =
    "decode: S random prompts of P tokens, G samples each (default 1), T = 1, exactly N new tokens per sequence (EOS\n"
    "  ignored), all S x G in flight at once: generated tokens/s, decode steps, and the weight bytes read per second (the model's\n"
    "  bytes x decode steps / time) to set against the memory bandwidth. The time includes the prefill of the S\n"
    "  prompts (one batched forward), so both figures are slightly understated.\n"
    "learner: K micro-batches of M tokens (rows of L random tokens, the last 3/4 of each row trained on) through\n"
    "  the GRPO loss, N optimiser steps: forward+backward tokens/s (median of steps 2..N) and peak device memory.\n"
    "  --save-prompts FILE writes the prompt ids (one JSON array per line) for a peer to generate from.\n"
    "  --threads N: CPU workers as in training (default every core); --no-share-prefix: each sample prefills its own\n"
    "  copy of the prompt; the KV bytes held at the peak are reported.\n"
    "  --device cpu|cuda|cuda:N (default cpu), --dtype auto|float32|bfloat16 as run.dtype (default auto).\n"
    "logprobs: the LM head's per-token log-probs and entropies of M random rows (C wide) over a V-word vocabulary,\n"
    "  forward and backward through both, chunked (as the learner does) or --naive (autograd over full [M, V]\n"
    "  logits): seconds and the peak memory above the inputs (CPU: peak resident set; CUDA: the caching allocator).\n"
    "  Defaults M = 2048, C = 896, V = 151936 (Qwen2.5-0.5B's head). Run each path in its own process.\n"
    "broadcast: under grpo launch or torchrun, rank 0 sends every parameter of the model to the other ranks (c10d\n"
    "  Gloo on the CPU, NCCL with --device cuda; 25 MB buckets), K times (default 5) after a warm-up: seconds per\n"
    "  broadcast (median) and GB/s of weights. On CUDA one rank alone runs NCCL's broadcast to itself (a self-loop).\n"
    "Output: one JSON line on stdout; a summary on stderr.\n";

// --device (default cpu), checked against this LibTorch.
at::Device bench_device(const Args& a) {
  at::Device device = at::kCPU;
  try {
    device = at::Device(a.get("--device", "cpu"));
  } catch (const c10::Error&) {
    GRPO_FAIL("grpo bench: --device '", a.get("--device"), "' is not a device; use cpu, cuda or cuda:N");
  }
  GRPO_CHECK(!device.is_cuda() || at::hasCUDA(), "grpo bench: --device ", device, " but this LibTorch sees no CUDA "
             "device; hint: a CUDA LibTorch on a GPU machine (scripts/gpu-bundle)");
  return device;
}

int64_t weight_bytes(const policy::Transformer& m) {
  int64_t n = 0;
  for (const auto& p : m->parameters()) n += p.numel() * static_cast<int64_t>(p.element_size());
  return n;
}

void reset_peak_memory(const at::Device& device) {
#ifdef GRPO_HAS_CUDA
  if (device.is_cuda()) c10::cuda::CUDACachingAllocator::resetPeakStats(device.index() < 0 ? 0 : device.index());
#endif
}

// Bytes allocated on a CUDA device, in MiB: the peak since the last reset, or now; -1 elsewhere.
double cuda_memory_mb(const at::Device& device, bool peak) {
#ifdef GRPO_HAS_CUDA
  if (device.is_cuda()) {
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device.index() < 0 ? 0 : device.index());
    const auto& a = stats.allocated_bytes[0];
    return static_cast<double>(peak ? a.peak : a.current) / (1 << 20);
  }
#endif
  (void)device, (void)peak;
  return -1;
}
double peak_memory_mb(const at::Device& device) { return cuda_memory_mb(device, /*peak=*/true); }

struct Loaded {
  policy::Policy pol;
  at::Device device = at::kCPU;
  at::ScalarType dtype = at::kFloat;
};

Loaded load(const Args& a) {
  GRPO_CHECK(a.has("--model"), "grpo bench: --model DIR is required; usage:\n", kUsage);
  Loaded l;
  l.device = bench_device(a);
  l.dtype = policy::parse_compute_dtype(a.get("--dtype", "auto"), l.device);
  if (l.device.is_cuda()) policy::allow_tf32(true);
  l.pol = policy::load_policy(a.get("--model"), l.device);
  return l;
}

int bench_decode(const Args& a) {
  Loaded l = load(a);
  const int64_t S = a.get_count("--sequences", 64, "bench"), P = a.get_count("--prompt-len", 64, "bench");
  const int64_t N = a.get_count("--new-tokens", 128, "bench"), G = a.get_count("--samples", 1, "bench");
  policy::to_compute_dtype(l.pol.model, l.dtype);  // nothing trains: the engine shares these weights
  rollout::EngineConfig ec;
  ec.n_workers = rl::setup_cpu_threads(a.get_integer("--threads", 0, "bench"), l.device);
  ec.max_batch = S * G;
  ec.max_seq_len = P + N + 1;
  ec.block_size = a.get_count("--block-size", 16, "bench");
  ec.share_prefix = !a.has("--no-share-prefix");
  ec.ignore_eos = true;
  ec.dtype = l.dtype;
  rollout::RolloutEngine engine(l.pol.model, l.pol.tokenizer, ec);
  at::Generator gen = at::detail::createCPUGenerator(1);
  at::Tensor ids = at::randint(0, l.pol.tokenizer->vocab_size(), {S, P}, gen, at::kLong);
  std::vector<rollout::Prompt> prompts(static_cast<size_t>(S));
  for (int64_t i = 0; i < S; ++i) {
    prompts[static_cast<size_t>(i)].id = i;
    const int64_t* row = ids[i].data_ptr<int64_t>();
    prompts[static_cast<size_t>(i)].token_ids.assign(row, row + P);
  }
  if (a.has("--save-prompts")) {  // the same prompts for a peer (scripts/bench_rollout), one JSON array per line
    std::string text;
    for (const auto& p : prompts) text += nlohmann::json(p.token_ids).dump() + "\n";
    policy::write_text_file(a.get("--save-prompts"), text);
  }
  rollout::SamplingConfig sampling;
  sampling.temperature = 1.0;
  sampling.seed = 7;
  sampling.max_new_tokens = std::min<int64_t>(N, 4);
  engine.generate(prompts, G, sampling);  // warm-up: kernels, allocator, BLAS handles
  reset_peak_memory(l.device);
  sampling.max_new_tokens = N;
  engine.generate(prompts, G, sampling);
  const rollout::GenerationStats& st = engine.last_stats();
  const int64_t bytes = weight_bytes(l.pol.model);
  const double tps = static_cast<double>(st.generated_tokens) / st.seconds;
  nlohmann::json j = {{"bench", "decode"},
                      {"model", a.get("--model")},
                      {"model_type", l.pol.config.model_type},
                      {"device", l.device.str()},
                      {"dtype", policy::dtype_name(l.dtype)},
                      {"sequences", S},
                      {"samples", G},
                      {"share_prefix", ec.share_prefix},
                      {"block_size", ec.block_size},
                      {"workers", ec.n_workers},
                      {"prefill_tokens", st.prompt_tokens},
                      {"kv_peak_bytes", st.kv_blocks_peak * st.kv_block_bytes},
                      {"prompt_len", P},
                      {"new_tokens", N},
                      {"generated_tokens", st.generated_tokens},
                      {"decode_steps", st.decode_steps},
                      {"seconds", st.seconds},
                      {"tokens_per_s", tps},
                      {"weight_bytes", bytes},
                      {"weight_read_gb_per_s", static_cast<double>(bytes) * static_cast<double>(st.decode_steps) /
                                                   st.seconds / 1e9},
                      {"peak_memory_mb", peak_memory_mb(l.device)}};
  std::printf("%s\n", j.dump().c_str());
  std::fprintf(stderr, "bench decode: %s on %s in %s, %lld prompts x %lld samples x %lld new tokens%s: %.0f tokens/s, "
               "%.2f s, KV peak %.1f MiB\n", l.pol.config.model_type.c_str(), l.device.str().c_str(),
               policy::dtype_name(l.dtype).c_str(), static_cast<long long>(S), static_cast<long long>(G),
               static_cast<long long>(N), ec.share_prefix ? "" : " (prefix sharing off)", tps, st.seconds,
               static_cast<double>(st.kv_blocks_peak * st.kv_block_bytes) / (1 << 20));
  return 0;
}

std::pair<double, double> rss_now_and_peak_mib();

int bench_learner(const Args& a) {
  Loaded l = load(a);
  const int64_t M = a.get_count("--micro-batch-tokens", 8192, "bench"), L = a.get_count("--seq-len", 1024, "bench");
  const int64_t K = a.get_count("--micro-batches", 2, "bench"), steps = a.get_count("--steps", 3, "bench");
  GRPO_CHECK(L >= 4 && M >= L, "grpo bench: --seq-len must be >= 4 and at most --micro-batch-tokens");
  GRPO_CHECK(steps >= 2, "grpo bench: --steps must be >= 2 (the first step is warm-up)");
  const int64_t rows = M / L * K, prompt = L / 4;
  at::Generator gen = at::detail::createCPUGenerator(1);
  rl::TrainBatch b;
  b.tokens = at::randint(0, l.pol.tokenizer->vocab_size(), {rows, L}, gen, at::kLong).to(l.device);
  b.lengths = at::full({rows}, L, at::kLong).to(l.device);
  at::Tensor mask = at::zeros({rows, L - 1}, at::kFloat);
  mask.narrow(1, prompt - 1, L - prompt).fill_(1.0);
  b.loss_mask = mask.to(l.device);
  b.advantages = at::randn({rows}, gen, at::kFloat).to(l.device);
  rl::LearnerConfig lc;
  lc.optim.lr = 1e-6;
  lc.micro_batch_tokens = M;
  lc.dtype = l.dtype;
  lc.checkpoint_layers = a.has("--activation-checkpointing");
  b.old_logprobs = rl::score_tokens(l.pol.model, b, 1.0, M, l.dtype);
  rl::Learner learner(l.pol.model, lc);
  std::vector<double> rates;
  for (int64_t s = 0; s < steps; ++s) {
    if (s == 1) reset_peak_memory(l.device);
    rl::UpdateStats st = learner.grpo_update(b);  // reads the loss back: the device has finished
    if (s > 0) rates.push_back(static_cast<double>(st.tokens) / st.seconds);
    std::fprintf(stderr, "bench learner: step %lld, %lld tokens in %.3f s\n", static_cast<long long>(s + 1),
                 static_cast<long long>(st.tokens), st.seconds);
  }
  std::sort(rates.begin(), rates.end());
  const double median = rates[rates.size() / 2];
  nlohmann::json j = {{"bench", "learner"},
                      {"model", a.get("--model")},
                      {"model_type", l.pol.config.model_type},
                      {"device", l.device.str()},
                      {"dtype", policy::dtype_name(l.dtype)},
                      {"micro_batch_tokens", M},
                      {"micro_batches", K},
                      {"seq_len", L},
                      {"tokens_per_step", rows * L},
                      {"tokens_per_s", median},
                      {"peak_memory_mb", peak_memory_mb(l.device)},
                      {"peak_rss_mib", rss_now_and_peak_mib().second},
                      {"activation_checkpointing", lc.checkpoint_layers},
                      {"parameters", l.pol.config.n_params()}};
  std::printf("%s\n", j.dump().c_str());
  std::fprintf(stderr, "bench learner: %s on %s in %s: %.0f tokens/s (forward + backward + AdamW)\n",
               l.pol.config.model_type.c_str(), l.device.str().c_str(), policy::dtype_name(l.dtype).c_str(), median);
  return 0;
}

// Resident set now and its peak, in MiB (Linux /proc/self/status).
std::pair<double, double> rss_now_and_peak_mib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  double now = 0, peak = 0;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) now = std::stod(line.substr(6)) / 1024;
    if (line.rfind("VmHWM:", 0) == 0) peak = std::stod(line.substr(6)) / 1024;
  }
  return {now, peak};
}

int bench_logprobs(const Args& a) {
  const int64_t M = a.get_count("--tokens", 2048, "bench"), C = a.get_count("--hidden", 896, "bench");
  const int64_t V = a.get_count("--vocab", 151936, "bench");
  const bool naive = a.has("--naive");
  const at::Device device = bench_device(a);
  at::manual_seed(1);
  auto opt = at::TensorOptions().dtype(at::kFloat).device(device);
  at::Tensor h = at::randn({M, C}, opt).requires_grad_(true);
  at::Tensor w = (at::randn({V, C}, opt) * 0.02).requires_grad_(true);
  at::Tensor tgt = at::randint(V, {M}, opt.dtype(at::kLong));
  at::Tensor gl = at::randn({M}, opt), ge = at::randn({M}, opt) * 0.01;
  // The gradients' buffers exist before the measurement: both paths must produce them.
  h.mutable_grad() = at::zeros_like(h);
  w.mutable_grad() = at::zeros_like(w);
  at::matmul(h.detach().narrow(0, 0, std::min<int64_t>(M, 8)), w.detach().t());  // BLAS buffers before the baseline
  reset_peak_memory(device);
  const double base = device.is_cuda() ? cuda_memory_mb(device, /*peak=*/false) : rss_now_and_peak_mib().first;
  auto t0 = std::chrono::steady_clock::now();
  policy::TokenStats s = naive ? policy::token_logprobs_naive(h, w, tgt, 1.0, true)
                               : policy::token_logprobs(h, w, tgt, 1.0, true);
  ((s.logprobs * gl).sum() + (s.entropy * ge).sum()).backward();
  const double checksum = h.grad().abs().sum().item<double>() + w.grad().abs().sum().item<double>();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double peak = (device.is_cuda() ? peak_memory_mb(device) : rss_now_and_peak_mib().second) - base;
  nlohmann::json j = {{"bench", "logprobs"}, {"path", naive ? "naive" : "chunked"}, {"device", device.str()},
                      {"tokens", M}, {"hidden", C}, {"vocab", V}, {"seconds", seconds},
                      {"peak_mib_above_inputs", peak}, {"logits_mib", static_cast<double>(M * V * 4) / (1 << 20)},
                      {"grad_checksum", checksum}};
  std::printf("%s\n", j.dump().c_str());
  std::fprintf(stderr, "bench logprobs: %s, %lld tokens x %lld vocab: %.2f s, peak %.0f MiB above the inputs (one [M, V] "
               "float32 logits tensor: %.0f MiB)\n", naive ? "naive" : "chunked", static_cast<long long>(M),
               static_cast<long long>(V), seconds, peak, static_cast<double>(M * V * 4) / (1 << 20));
  return 0;
}

int bench_broadcast(const Args& a) {
  const rl::DistEnv env = rl::DistEnv::from_environment();
  at::Device device = bench_device(a);
  // NOTE: on one GPU a single rank still runs NCCL's broadcast (a self-loop), the figure the GPU check records.
  GRPO_CHECK(env.distributed() || device.is_cuda(), "grpo bench broadcast on the CPU needs several ranks; hint: grpo "
             "launch --nproc 2 -- bench broadcast --model DIR");
  GRPO_CHECK(a.has("--model"), "grpo bench: --model DIR is required; usage:\n", kUsage);
  const int64_t iters = a.get_count("--iters", 5, "bench");
  if (device.is_cuda() && !device.has_index()) device = at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(env.local_rank));
  rl::Dist dist(env, std::chrono::minutes(10), device);
  policy::Policy pol = policy::load_policy(a.get("--model"), device);
  std::vector<at::Tensor> params;
  int64_t bytes = 0;
  for (const auto& p : pol.model->parameters()) {
    params.push_back(p.detach());
    bytes += p.numel() * static_cast<int64_t>(p.element_size());
  }
  dist.broadcast(params, 0, "the weights");  // warm-up: connections and buffers
  std::vector<double> secs;
  for (int64_t i = 0; i < iters; ++i) {
    dist.barrier("the broadcast bench");
    auto t0 = std::chrono::steady_clock::now();
    dist.broadcast(params, 0, "the weights");
    secs.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(secs.begin(), secs.end());
  const double median = secs[secs.size() / 2];
  if (dist.is_main()) {
    nlohmann::json j = {{"bench", "broadcast"}, {"model", a.get("--model")}, {"ranks", env.world_size},
                        {"parameters", pol.config.n_params()}, {"bytes", bytes}, {"seconds", median},
                        {"gb_per_s", static_cast<double>(bytes) / median / 1e9}, {"backend", dist.backend(device)},
                        {"device", device.str()}};
    std::printf("%s\n", j.dump().c_str());
    std::fprintf(stderr, "bench broadcast: %.0f MB of weights to %lld ranks in %.3f s (median of %lld): %.2f GB/s\n",
                 static_cast<double>(bytes) / 1e6, static_cast<long long>(env.world_size - 1), median,
                 static_cast<long long>(iters), static_cast<double>(bytes) / median / 1e9);
  }
  return 0;
}

}  // namespace

int run_bench(int argc, char** argv) {
  GRPO_CHECK(argc >= 1, "grpo bench: which benchmark?\n", kUsage);
  const std::string what = argv[0];
  if (what == "-h" || what == "--help") {
    std::printf("%s\n%s", kUsage, kDetails);
    return 0;
  }
  GRPO_CHECK(what == "decode" || what == "learner" || what == "logprobs" || what == "broadcast",
             "grpo bench: unknown benchmark '", what,
             "'; usage:\n", kUsage);
  if (what == "broadcast") {
    return bench_broadcast(
        parse_args(argc - 1, argv + 1, "bench", {"--model", "--iters", "--device"}, {}, kUsage, kDetails));
  }
  if (what == "logprobs") {
    return bench_logprobs(parse_args(argc - 1, argv + 1, "bench", {"--tokens", "--hidden", "--vocab", "--device"},
                                     {"--naive"}, kUsage, kDetails));
  }
  const std::vector<std::string> flags =
      what == "decode" ? std::vector<std::string>{"--model", "--device", "--dtype", "--sequences", "--samples",
                                                  "--prompt-len", "--new-tokens", "--threads", "--block-size",
                                                  "--save-prompts"}
                       : std::vector<std::string>{"--model", "--device", "--dtype", "--micro-batch-tokens", "--seq-len",
                                                  "--micro-batches", "--steps"};
  Args a = parse_args(argc - 1, argv + 1, "bench", flags,
                      what == "decode" ? std::vector<std::string>{"--no-share-prefix"}
                                       : std::vector<std::string>{"--activation-checkpointing"},
                      kUsage, kDetails);
  return what == "decode" ? bench_decode(a) : bench_learner(a);
}

}  // namespace grpo::recipes
