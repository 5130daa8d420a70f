// Building blocks of the transformer; see layers.h.
#include "policy/layers.h"

namespace grpo::policy {

LinearImpl::LinearImpl(int64_t in_features, int64_t out_features) {
  weight = register_parameter("weight", at::empty({out_features, in_features}));
}

EmbeddingImpl::EmbeddingImpl(int64_t n_vocab, int64_t dim) {
  weight = register_parameter("weight", at::empty({n_vocab, dim}));
}

RMSNormImpl::RMSNormImpl(int64_t dim, double eps_) : eps(eps_) {
  weight = register_parameter("weight", at::ones({dim}));
}

at::Tensor RMSNormImpl::forward(const at::Tensor& x) const {
  at::Tensor x32 = x.to(at::kFloat);
  at::Tensor y = x32 * at::rsqrt(x32.pow(2).mean(-1, /*keepdim=*/true) + eps);
  return weight * y.to(x.scalar_type());
}

SwiGLUImpl::SwiGLUImpl(int64_t dim, int64_t hidden) {
  gate_proj = register_module("gate_proj", Linear(dim, hidden));
  up_proj = register_module("up_proj", Linear(dim, hidden));
  down_proj = register_module("down_proj", Linear(hidden, dim));
}

at::Tensor SwiGLUImpl::forward(const at::Tensor& x) const {
  return down_proj->forward(at::silu(gate_proj->forward(x)) * up_proj->forward(x));
}

RopeAngles rope_angles(const at::Tensor& positions, int64_t head_dim, double theta) {
  auto opts = at::TensorOptions().dtype(at::kFloat).device(positions.device());
  // inv_freq[i] = theta^(-2i/d), computed in fp32 as HF does.
  at::Tensor inv_freq = 1.0 / at::pow(theta, at::arange(0, head_dim, 2, opts) / static_cast<double>(head_dim));
  at::Tensor freqs = positions.to(at::kFloat).unsqueeze(-1) * inv_freq;
  return {freqs.cos(), freqs.sin()};
}

at::Tensor apply_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  int64_t half = x.size(-1) / 2;
  at::Tensor x1 = x.narrow(-1, 0, half);
  at::Tensor x2 = x.narrow(-1, half, half);
  at::Tensor c = cos.to(x.scalar_type()), s = sin.to(x.scalar_type());
  return at::cat({x1 * c - x2 * s, x2 * c + x1 * s}, -1);
}

}  // namespace grpo::policy
