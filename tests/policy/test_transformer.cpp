// The transformer's two forward paths agree, MoE dispatch matches a dense reference, the load-balancing loss
// has its known values, and a saved checkpoint loads back to identical logits.
#include "tests/catch_torch.h"

#include <unistd.h>

#include <filesystem>

#include <ATen/core/grad_mode.h>
#include <c10/core/InferenceMode.h>

#include "policy/tokenizer/char_tokenizer.h"
#include "policy/weights.h"
#include "tests/devices.h"
#include "tests/policy/paged_util.h"

using namespace grpo::policy;

namespace {

Transformer test_model(uint64_t seed = 7) {
  ModelConfig cfg = model_preset("test-moe", 40);
  return Transformer(cfg, seed);
}

double max_abs(const at::Tensor& a, const at::Tensor& b) { return (a - b).abs().max().item<double>(); }

std::string temp_dir(const std::string& name) {
  auto p = std::filesystem::temp_directory_path() / ("grpo_test_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(p);
  std::filesystem::create_directories(p);
  return p.string();
}

// Largest |logit| difference between the full forward pass and the paged path for a test-moe model in `dtype` on
// `device`: a prefill of 3 tokens, a second prefill chunk of 2 (attending to the first), then one-token decoding.
double kv_cache_max_diff(const at::Device& device, at::ScalarType dtype, int64_t block_size) {
  c10::InferenceMode guard;
  Transformer m = test_model();
  m->to(device, dtype);
  const int64_t N = 3, T = 12;
  at::Tensor tokens = at::randint(3, 40, {N, T}, at::kLong);
  at::Tensor full = m->logits(m->forward(tokens.to(device)).hidden).to(at::kFloat).cpu();  // [N, T, V]
  grpo::test::TestPages pages(m, N, 16, block_size);
  auto run = [&](int64_t from, int64_t n) {
    at::Tensor pos = at::arange(from, from + n, at::kLong).unsqueeze(0).expand({N, n}).contiguous();
    at::Tensor h = pages.forward(m, tokens.narrow(1, from, n).contiguous(), pos);
    return max_abs(m->logits(h).to(at::kFloat).cpu(), full.narrow(1, from, n));
  };
  double worst = run(0, 3);           // NOTE: in order (the arguments of one call could run in either order)
  worst = std::max(worst, run(3, 2));
  for (int64_t t = 5; t < T; ++t) worst = std::max(worst, run(t, 1));
  return worst;
}

}  // namespace

TEST_CASE("paged KV-cache prefill, chunked prefill and decoding equal the full forward pass", "[cpu]") {
  for (int64_t bs : {1, 4, 16}) {
    INFO("block size " << bs);
    CHECK(kv_cache_max_diff(at::kCPU, at::kFloat, bs) < 1e-5);
  }
  // bf16 rounds differently along the two paths; the logits are O(1).
  CHECK(kv_cache_max_diff(at::kCPU, at::kBFloat16, 4) < 5e-2);
}

TEST_CASE("paged KV-cache decoding equals the full forward pass, on CUDA", "[gpu]") {
  GRPO_NEED_CUDA();
  at::globalContext().setFloat32MatmulPrecision("highest");  // no TF32: float32 must agree as on the CPU
  CHECK(kv_cache_max_diff(at::kCUDA, at::kFloat, 4) < 1e-4);
  CHECK(kv_cache_max_diff(at::kCUDA, at::kBFloat16, 4) < 5e-2);
}

TEST_CASE("decoding sequences of different lengths in one batch", "[cpu]") {
  c10::InferenceMode guard;
  Transformer m = test_model();
  at::Tensor a = at::randint(3, 40, {1, 9}, at::kLong), b = at::randint(3, 40, {1, 6}, at::kLong);
  at::Tensor full_a = m->logits(m->forward(a).hidden), full_b = m->logits(m->forward(b).hidden);
  grpo::test::TestPages pages(m, 2, 16, 3);
  // Prefill 4 tokens of a and 2 of b (right-padded: b's positions 2 and 3 get padding, overwritten later).
  at::Tensor pre = at::zeros({2, 4}, at::kLong);
  pre[0] = a[0].narrow(0, 0, 4);
  pre.select(0, 1).narrow(0, 0, 2).copy_(b[0].narrow(0, 0, 2));
  pages.forward(m, pre, at::arange(4, at::kLong).unsqueeze(0).expand({2, 4}).contiguous());
  // Decode both together: a at positions 4.., b at positions 2...
  for (int64_t k = 0; k < 4; ++k) {
    at::Tensor pos = at::tensor(std::vector<int64_t>{4 + k, 2 + k}).view({2, 1});
    at::Tensor tok = at::stack({a[0][4 + k], b[0][2 + k]}).view({2, 1});
    at::Tensor out = m->logits(pages.forward(m, tok, pos)).select(1, 0);
    CHECK(max_abs(out[0], full_a[0][4 + k]) < 1e-5);
    CHECK(max_abs(out[1], full_b[0][2 + k]) < 1e-5);
  }
}

TEST_CASE("MoE top-k dispatch equals a dense computation of the chosen experts", "[cpu]") {
  c10::InferenceMode guard;
  Transformer m = test_model();
  MoEImpl& moe = *m->layers[0]->moe;
  at::Tensor x = at::randn({17, m->config.n_embd});
  MoEOutput out = moe.forward(x);
  at::Tensor probs = at::softmax(out.router_logits, -1);
  auto [w, idx] = probs.topk(moe.cfg.n_expert_used, -1);
  w = w / w.sum(-1, true);
  at::Tensor ref = at::zeros_like(x);
  for (int64_t t = 0; t < x.size(0); ++t) {
    for (int64_t k = 0; k < moe.cfg.n_expert_used; ++k) {
      ref[t] += w[t][k] * moe.expert_list[idx[t][k].item<int64_t>()]->forward(x[t].unsqueeze(0))[0];
    }
  }
  CHECK(max_abs(out.y, ref) < 1e-5);
  CHECK(out.expert_counts.sum().item<int64_t>() == 17 * moe.cfg.n_expert_used);
}

TEST_CASE("load-balancing loss: K for uniform routing, E*... for collapsed routing", "[cpu]") {
  const int64_t T = 64, E = 4, K = 2;
  // Equal logits: every expert equally likely; top-k breaks ties, but Pbar = 1/E so aux = E * sum_e f_e / E = K.
  at::Tensor uniform = at::zeros({T, E});
  CHECK(load_balancing_loss({uniform}, K, at::Tensor()).item<double>() == Approx(K));
  // All mass on expert 0 (and the top-2 partner 1): f = (1, 1, 0, 0), Pbar ~ (1, 0, 0, 0) -> aux ~ E.
  at::Tensor collapsed = at::zeros({T, E});
  collapsed.select(1, 0).fill_(50.0);
  collapsed.select(1, 1).fill_(10.0);
  CHECK(load_balancing_loss({collapsed}, K, at::Tensor()).item<double>() == Approx(E).epsilon(1e-3));
  // Masked-out tokens do not count.
  at::Tensor mixed = at::cat({uniform, collapsed}, 0);
  at::Tensor mask = at::cat({at::ones({T}), at::zeros({T})});
  CHECK(load_balancing_loss({mixed}, K, mask).item<double>() == Approx(K));
}

TEST_CASE("save then load gives identical logits and HF tensor names", "[cpu]") {
  CharTokenizer tok;
  Transformer m(model_preset("test-moe", tok.vocab_size()), 11);
  std::string dir = temp_dir("save_load");
  save_policy(m, tok, dir);
  Policy p = load_policy(dir, at::kCPU);
  at::Tensor tokens = at::randint(0, 40, {2, 10}, at::kLong);
  at::NoGradGuard no_grad;
  at::Tensor a = m->logits(m->forward(tokens).hidden), b = p.model->logits(p.model->forward(tokens).hidden);
  CHECK(at::equal(a, b));
  CHECK(p.tokenizer->vocab_size() == tok.vocab_size());
  // Qwen3-MoE layout and names.
  auto names = m->named_parameters();
  CHECK(names.contains("model.embed_tokens.weight"));
  CHECK(names.contains("model.layers.1.self_attn.q_norm.weight"));
  CHECK(names.contains("model.layers.0.mlp.gate.weight"));
  CHECK(names.contains("model.layers.0.mlp.experts.3.down_proj.weight"));
  CHECK(names.contains("lm_head.weight"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("save from CUDA then load onto CUDA gives identical logits", "[gpu]") {
  GRPO_NEED_CUDA();
  CharTokenizer tok;
  Transformer m(model_preset("test-moe", tok.vocab_size()), 11);
  m->to(at::kCUDA);
  std::string dir = temp_dir("save_load_cuda");
  save_policy(m, tok, dir);
  Policy p = load_policy(dir, at::kCUDA);
  CHECK(p.model->embed_tokens->weight.device().is_cuda());
  at::Tensor tokens = at::randint(0, 40, {2, 10}, at::kLong).to(at::kCUDA);
  at::NoGradGuard no_grad;
  at::Tensor a = m->logits(m->forward(tokens).hidden), b = p.model->logits(p.model->forward(tokens).hidden);
  CHECK(at::equal(a, b));
  std::filesystem::remove_all(dir);
}

TEST_CASE("loading rejects a checkpoint whose weights do not fit the config", "[cpu]") {
  CharTokenizer tok;
  Transformer m(model_preset("test-moe", tok.vocab_size()), 3);
  std::string dir = temp_dir("bad_ckpt");
  save_policy(m, tok, dir);
  // Claim more layers than the weights have: the first missing tensor is named.
  ModelConfig cfg = m->config;
  cfg.n_layer = 3;
  Transformer bigger(cfg, 1);
  REQUIRE_THROWS_WITH(load_weights(bigger, dir), Catch::Contains("model.layers.2.") && Catch::Contains("missing"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("config.json round trip and unsupported options", "[cpu]") {
  ModelConfig cfg = model_preset("tiny-moe", 104);
  ModelConfig back = parse_model_config(model_config_to_json(cfg), "test");
  CHECK(back.n_embd == cfg.n_embd);
  CHECK(back.n_kv_head == cfg.n_kv_head);
  CHECK(back.n_expert == cfg.n_expert);
  CHECK(back.n_params() == cfg.n_params());
  REQUIRE_THROWS_WITH(parse_model_config(R"({"model_type": "gpt_neox"})", "x.json"), Catch::Contains("gpt_neox"));
  REQUIRE_THROWS_WITH(parse_model_config("{not json", "x.json"), Catch::Contains("x.json"));
  std::string j = model_config_to_json(cfg);
  j.replace(j.find("\"rope_scaling\": null"), 20, "\"rope_scaling\": {\"type\": \"yarn\"}");
  REQUIRE_THROWS_WITH(parse_model_config(j, "x.json"), Catch::Contains("rope_scaling"));
}

TEST_CASE("parameter count of the tiny preset", "[cpu]") {
  ModelConfig cfg = model_preset("tiny-moe", 104);
  Transformer m(cfg, 1);
  int64_t counted = 0;
  for (const auto& p : m->parameters()) counted += p.numel();
  CHECK(counted == cfg.n_params());
}
