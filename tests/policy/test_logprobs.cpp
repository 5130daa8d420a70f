// The chunked log-probs and entropies against autograd's own ops on full logits: values and gradients (to the
// hidden states and to the LM head, through the log-probs and through the entropies) within 1e-5, at several
// chunk sizes and temperatures, and under bf16 autocast.
#include "tests/catch_torch.h"

#include "policy/device.h"
#include "policy/logprobs.h"

using namespace grpo::policy;

namespace {

struct Grads {
  at::Tensor lp, ent, gh, gw;
};

// Both outputs through a random linear functional, so every gradient path is exercised.
Grads run(bool chunked, const at::Tensor& h0, const at::Tensor& w0, const at::Tensor& tgt, double temperature,
          int64_t chunk_rows, const at::Tensor& a, const at::Tensor& b) {
  at::Tensor h = h0.clone().requires_grad_(true), w = w0.clone().requires_grad_(true);
  TokenStats s = chunked ? token_logprobs(h, w, tgt, temperature, true, chunk_rows)
                         : token_logprobs_naive(h, w, tgt, temperature, true);
  ((s.logprobs * a).sum() + (s.entropy * b).sum()).backward();
  return {s.logprobs.detach(), s.entropy.detach(), h.grad(), w.grad()};
}

double max_diff(const at::Tensor& x, const at::Tensor& y) { return (x.to(at::kFloat) - y.to(at::kFloat)).abs().max().item<double>(); }

}  // namespace

TEST_CASE("chunked log-probs and entropies equal the full-logits path, values and gradients", "[cpu]") {
  at::manual_seed(3);
  const int64_t M = 37, C = 24, V = 1000;
  at::Tensor h = at::randn({M, C}), w = at::randn({V, C}) * 0.3, tgt = at::randint(V, {M}, at::kLong);
  at::Tensor a = at::randn({M}), b = at::randn({M});
  for (double temperature : {1.0, 0.7}) {
    Grads ref = run(false, h, w, tgt, temperature, 0, a, b);
    for (int64_t chunk : {1, 5, 16, 37, 0}) {
      INFO("temperature " << temperature << ", chunk " << chunk);
      Grads got = run(true, h, w, tgt, temperature, chunk, a, b);
      CHECK(max_diff(got.lp, ref.lp) < 1e-5);
      CHECK(max_diff(got.ent, ref.ent) < 1e-5);
      CHECK(max_diff(got.gh, ref.gh) < 1e-5);
      CHECK(max_diff(got.gw, ref.gw) < 1e-5);
    }
  }
  // Only the log-probs used (entropy's gradient undefined), and only the entropies.
  at::Tensor hh = h.clone().requires_grad_(true);
  token_logprobs(hh, w, tgt, 1.0, true, 8).logprobs.sum().backward();
  at::Tensor h2 = h.clone().requires_grad_(true);
  token_logprobs_naive(h2, w, tgt, 1.0, false).logprobs.sum().backward();
  CHECK(max_diff(hh.grad(), h2.grad()) < 1e-5);
  at::Tensor h3 = h.clone().requires_grad_(true), h4 = h.clone().requires_grad_(true);
  token_logprobs(h3, w, tgt, 1.0, true, 8).entropy.sum().backward();
  token_logprobs_naive(h4, w, tgt, 1.0, true).entropy.sum().backward();
  CHECK(max_diff(h3.grad(), h4.grad()) < 1e-5);
  // No rows at all.
  TokenStats empty = token_logprobs(at::zeros({0, C}), w, at::zeros({0}, at::kLong), 1.0, true);
  CHECK(empty.logprobs.numel() == 0);
}

TEST_CASE("chunked log-probs under bf16 autocast compute like the full path under autocast", "[cpu]") {
  at::manual_seed(4);
  const int64_t M = 20, C = 32, V = 500;
  at::Tensor h = at::randn({M, C}), w = at::randn({V, C}) * 0.3, tgt = at::randint(V, {M}, at::kLong);
  at::Tensor a = at::randn({M}), b = at::randn({M});
  Grads ref, got;
  {
    AutocastGuard autocast(at::kCPU, at::kBFloat16);
    ref = run(false, h, w, tgt, 1.0, 0, a, b);
  }
  {
    AutocastGuard autocast(at::kCPU, at::kBFloat16);
    got = run(true, h, w, tgt, 1.0, 6, a, b);
  }
  Grads f32 = run(true, h, w, tgt, 1.0, 6, a, b);
  CHECK(max_diff(got.lp, ref.lp) < 1e-4);  // the same bf16 products, summed in another order
  CHECK(max_diff(got.ent, ref.ent) < 1e-4);
  CHECK(got.gh.scalar_type() == at::kFloat);
  CHECK(got.gw.scalar_type() == at::kFloat);
  CHECK(max_diff(got.lp, f32.lp) > 1e-4);  // and it did compute in bf16
  CHECK(max_diff(got.gh, ref.gh) < 0.05 * ref.gh.abs().max().item<double>());
}
