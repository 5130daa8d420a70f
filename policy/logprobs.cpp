// Chunked token log-probs and entropies with a recomputing backward; see logprobs.h.
#include "policy/logprobs.h"

#include <algorithm>

#include <ATen/core/grad_mode.h>
#include <torch/csrc/autograd/custom_function.h>

#include "kernels/check.h"
#include "policy/device.h"

namespace grpo::policy {

at::Tensor scaled_log_softmax(const at::Tensor& logits, double temperature) {
  GRPO_CHECK(temperature > 0, "temperature must be > 0, got ", temperature);
  at::Tensor z = logits.to(at::kFloat);
  if (temperature != 1.0) z = z / temperature;
  return at::log_softmax(z, -1);
}

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Scaled float32 logits of rows [start, start + n): (h W^T) / temperature, the product in w's dtype.
at::Tensor chunk_logits(const at::Tensor& h, const at::Tensor& w, int64_t start, int64_t n, double temperature) {
  at::Tensor z = at::matmul(h.narrow(0, start, n).to(w.scalar_type()), w.t()).to(at::kFloat);
  if (temperature != 1.0) z.div_(temperature);
  return z;
}

// Outputs: log-probs [M], entropies [M] (zeros when not asked for). Saves hidden, the head, targets, the
// log-sum-exp and the entropy of each row: O(M) beyond the inputs.
struct ChunkedLogprobs : public torch::autograd::Function<ChunkedLogprobs> {
  static variable_list forward(AutogradContext* ctx, const at::Tensor& hidden, const at::Tensor& weight,
                               const at::Tensor& targets, double temperature, bool with_entropy, int64_t chunk_rows,
                               int64_t dtype) {
    NoAutocastGuard no_autocast;  // the dtype is explicit below, the same in the backward
    const auto dt = static_cast<at::ScalarType>(dtype);
    const at::Tensor w = weight.to(dt);
    const int64_t M = hidden.size(0);
    auto f32 = hidden.options().dtype(at::kFloat);
    at::Tensor lp = at::empty({M}, f32), lse = at::empty({M}, f32), ent = at::zeros({M}, f32);
    for (int64_t start = 0; start < M; start += chunk_rows) {
      const int64_t n = std::min(chunk_rows, M - start);
      at::Tensor z = chunk_logits(hidden, w, start, n, temperature);  // [n, V]
      at::Tensor l = at::logsumexp(z, 1);
      lse.narrow(0, start, n).copy_(l);
      lp.narrow(0, start, n).copy_(z.gather(1, targets.narrow(0, start, n).unsqueeze(1)).squeeze(1) - l);
      if (with_entropy) {
        // H = lse - sum_j p_j z_j
        at::Tensor p = (z - l.unsqueeze(1)).exp_();
        ent.narrow(0, start, n).copy_(l - (p.mul_(z)).sum(1));
      }
    }
    ctx->save_for_backward({hidden, weight, targets, lse, ent});
    ctx->saved_data["temperature"] = temperature;
    ctx->saved_data["chunk_rows"] = chunk_rows;
    ctx->saved_data["dtype"] = dtype;
    return {lp, ent};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    NoAutocastGuard no_autocast;
    auto saved = ctx->get_saved_variables();
    const at::Tensor &hidden = saved[0], &weight = saved[1], &targets = saved[2], &lse = saved[3], &ent = saved[4];
    const double temperature = ctx->saved_data["temperature"].toDouble();
    const int64_t chunk_rows = ctx->saved_data["chunk_rows"].toInt();
    const auto dt = static_cast<at::ScalarType>(ctx->saved_data["dtype"].toInt());
    const at::Tensor& g_lp = grads[0];
    const at::Tensor& g_ent = grads[1];
    const at::Tensor w = weight.to(dt);
    const int64_t M = hidden.size(0);
    at::Tensor grad_h = at::zeros_like(hidden);
    at::Tensor grad_w = at::zeros(weight.sizes(), weight.options().dtype(at::kFloat));
    for (int64_t start = 0; start < M; start += chunk_rows) {
      const int64_t n = std::min(chunk_rows, M - start);
      at::Tensor logp = chunk_logits(hidden, w, start, n, temperature).sub_(lse.narrow(0, start, n).unsqueeze(1));
      at::Tensor p = logp.exp();
      // d/dz of  g_lp * logp[t] + g_ent * H  =  g_lp (onehot_t - p) - g_ent p (logp + H)
      if (g_ent.defined()) {
        logp.add_(ent.narrow(0, start, n).unsqueeze(1)).mul_(-g_ent.narrow(0, start, n).unsqueeze(1));
      } else {
        logp.zero_();
      }
      if (g_lp.defined()) logp.sub_(g_lp.narrow(0, start, n).unsqueeze(1));
      at::Tensor d = p.mul_(logp);  // [n, V]
      if (g_lp.defined()) d.scatter_add_(1, targets.narrow(0, start, n).unsqueeze(1), g_lp.narrow(0, start, n).unsqueeze(1));
      if (temperature != 1.0) d.div_(temperature);
      at::Tensor dd = d.to(dt);
      at::Tensor h = hidden.narrow(0, start, n).to(dt);
      grad_h.narrow(0, start, n).copy_(at::matmul(dd, w));
      if (dt == at::kFloat) {
        grad_w.addmm_(dd.t(), h);  // in place: no [V, C] temporary per chunk
      } else {
        grad_w.add_(at::matmul(dd.t(), h));
      }
    }
    return {grad_h, grad_w.to(weight.scalar_type()), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(),
            at::Tensor()};
  }
};

}  // namespace

TokenStats token_logprobs(const at::Tensor& hidden, const at::Tensor& weight, const at::Tensor& targets,
                          double temperature, bool with_entropy, int64_t chunk_rows) {
  GRPO_CHECK(hidden.dim() == 2 && weight.dim() == 2 && targets.dim() == 1 && hidden.size(0) == targets.size(0) &&
                 hidden.size(1) == weight.size(1),
             "token_logprobs expects hidden [M, C], weight [V, C] and targets [M]");
  GRPO_CHECK(temperature > 0, "temperature must be > 0, got ", temperature);
  if (chunk_rows <= 0) chunk_rows = std::clamp<int64_t>((int64_t{64} << 20) / (4 * weight.size(0)), 16, 8192);
  const at::ScalarType dt = autocast_dtype_now(hidden.device());
  variable_list out = ChunkedLogprobs::apply(hidden, weight, targets.to(at::kLong), temperature, with_entropy,
                                             chunk_rows, static_cast<int64_t>(dt));
  TokenStats s;
  s.logprobs = out[0];
  if (with_entropy) s.entropy = out[1];
  return s;
}

TokenStats token_logprobs_naive(const at::Tensor& hidden, const at::Tensor& weight, const at::Tensor& targets,
                                double temperature, bool with_entropy) {
  at::Tensor logp = scaled_log_softmax(at::linear(hidden, weight), temperature);  // [M, V]
  TokenStats s;
  s.logprobs = logp.gather(1, targets.to(at::kLong).unsqueeze(1)).squeeze(1);
  if (with_entropy) s.entropy = -(logp.exp() * logp).sum(-1);
  return s;
}

}  // namespace grpo::policy
