// policy/device: the compute dtype's names, the autocast region (bf16 inside, float32 outside, nested, weights
// changed between regions are seen), host-to-device copies, and a model copied into another dtype.
#include "tests/catch_torch.h"

#include <ATen/core/grad_mode.h>

#include "policy/device.h"
#include "policy/weights.h"
#include "tests/devices.h"
#include "tests/shared_data.h"

using namespace grpo::policy;

TEST_CASE("run.dtype names: auto follows the device, unknown names are refused", "[cpu]") {
  CHECK(parse_compute_dtype("auto", at::kCPU) == at::kFloat);
  CHECK(parse_compute_dtype("auto", at::Device("cuda:0")) == at::kBFloat16);
  CHECK(parse_compute_dtype("bf16", at::kCPU) == at::kBFloat16);
  CHECK(parse_compute_dtype("float32", at::Device("cuda")) == at::kFloat);
  CHECK_THROWS_WITH(parse_compute_dtype("half", at::kCPU), Catch::Contains("run.dtype 'half'"));
}

namespace {

// linear(x, w) under a guard of `dtype` on `device`; w a leaf that requires grad, as a parameter is.
void check_autocast(const at::Device& device) {
  at::Tensor x = at::randn({4, 8}).to(device);
  at::Tensor w = at::randn({3, 8}).to(device).requires_grad_(true);
  CHECK(at::linear(x, w).scalar_type() == at::kFloat);
  at::Tensor inside;
  {
    AutocastGuard outer(device, at::kBFloat16);
    inside = at::linear(x, w);
    CHECK(inside.scalar_type() == at::kBFloat16);
    {
      AutocastGuard nested(device, at::kBFloat16);
      CHECK(at::linear(x, w).scalar_type() == at::kBFloat16);
    }
    CHECK(at::linear(x, w).scalar_type() == at::kBFloat16);  // the nested guard restored, not switched off
    AutocastGuard off(device, at::kFloat);                     // float32 means no autocast: a no-op
    CHECK(at::linear(x, w).scalar_type() == at::kBFloat16);
  }
  CHECK(at::linear(x, w).scalar_type() == at::kFloat);
  // An optimiser step between two regions: the second sees the new weights (the cast cache was dropped).
  {
    at::NoGradGuard no_grad;
    w.add_(1.0);
  }
  AutocastGuard again(device, at::kBFloat16);
  at::Tensor after = at::linear(x, w);
  at::NoGradGuard no_grad;
  CHECK(at::allclose(after.to(at::kFloat), at::linear(x, w.detach()).to(at::kFloat), 0.05, 0.1));
  CHECK_FALSE(at::allclose(after.to(at::kFloat), inside.to(at::kFloat), 0.05, 0.1));
}

void check_copy_model(const at::Device& device) {
  Transformer m(model_preset("test-moe", 40), 3);
  m->to(device);
  Transformer c = copy_model(m, at::kBFloat16);
  CHECK(c->embed_tokens->weight.scalar_type() == at::kBFloat16);
  CHECK(c->embed_tokens->weight.device() == m->embed_tokens->weight.device());
  CHECK(c->output_vocab() == m->output_vocab());
  auto a = m->named_parameters(), b = c->named_parameters();
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    INFO(a[i].key());
    CHECK(at::equal(a[i].value().to(at::kBFloat16), b[i].value()));
  }
  {
    at::NoGradGuard no_grad;
    m->embed_tokens->weight.mul_(2.0);
  }
  CHECK_FALSE(at::equal(m->embed_tokens->weight.to(at::kBFloat16), c->embed_tokens->weight));
  copy_weights(m, c);
  CHECK(at::equal(m->embed_tokens->weight.to(at::kBFloat16), c->embed_tokens->weight));
}

}  // namespace

TEST_CASE("autocast: bf16 inside, float32 outside, nested guards, weights changed between regions", "[cpu]") {
  check_autocast(at::kCPU);
}

TEST_CASE("NoAutocastGuard: float32 inside a bf16 autocast region, bf16 again after it", "[cpu]") {
  at::Tensor x = at::randn({4, 8}), w = at::randn({3, 8}).requires_grad_(true);
  AutocastGuard bf16(at::kCPU, at::kBFloat16);
  {
    NoAutocastGuard fp32;
    CHECK(at::linear(x, w).scalar_type() == at::kFloat);
  }
  CHECK(at::linear(x, w).scalar_type() == at::kBFloat16);
}

TEST_CASE("to_compute_dtype and copy_model leave DeepSeek-V3's router score bias in float32", "[cpu]") {
  Transformer m = load_model(grpo::test::source_path("tests/fixtures/models/deepseek_v3"), at::kCPU, at::kFloat);
  Transformer c = copy_model(m, at::kBFloat16);
  int64_t n_bias = 0;
  for (const auto& b : c->named_buffers()) {
    INFO(b.key());
    CHECK(b.value().scalar_type() == at::kFloat);
    n_bias += b.key().find("e_score_correction_bias") != std::string::npos;
  }
  CHECK(n_bias > 0);
  to_compute_dtype(m, at::kBFloat16);
  CHECK(m->embed_tokens->weight.scalar_type() == at::kBFloat16);
  for (const auto& b : m->named_buffers()) CHECK(b.value().scalar_type() == at::kFloat);
}

TEST_CASE("copy_model and copy_weights: a bf16 copy that follows the float32 model", "[cpu]") {
  check_copy_model(at::kCPU);
  Transformer m(model_preset("test-moe", 40), 3);
  Transformer other(model_preset("tiny-moe", 40), 3);
  CHECK_THROWS_WITH(copy_weights(m, other), Catch::Contains("copy_weights"));
}

TEST_CASE("to_device: host values arrive intact", "[cpu]") {
  at::Tensor t = to_device(std::vector<int64_t>{5, -1, 7}, at::kCPU);
  CHECK(t.scalar_type() == at::kLong);
  CHECK(at::equal(t, at::tensor(std::vector<int64_t>{5, -1, 7})));
}

TEST_CASE("autocast, copy_model and asynchronous host-to-device copies on CUDA", "[gpu]") {
  GRPO_NEED_CUDA();
  check_autocast(at::kCUDA);
  check_copy_model(at::kCUDA);
  // Many small pinned asynchronous copies in a row, each read back after the others were queued.
  std::vector<at::Tensor> on_device;
  for (int64_t i = 0; i < 64; ++i) on_device.push_back(to_device(std::vector<int64_t>{i, i * i, -i}, at::kCUDA));
  for (int64_t i = 0; i < 64; ++i) {
    CHECK(on_device[static_cast<size_t>(i)].device().is_cuda());
    CHECK(at::equal(on_device[static_cast<size_t>(i)].cpu(), at::tensor(std::vector<int64_t>{i, i * i, -i})));
  }
}
