// The small building blocks of the transformer: Linear (no bias), Embedding, RMSNorm, the SwiGLU MLP and
// rotary position embeddings. Parameter names follow Hugging Face (`weight`, `gate_proj`, ...), so the
// module tree's named_parameters() are the checkpoint's tensor names. Math only: no I/O, no logging.
#pragma once

#include <ATen/ATen.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

namespace grpo::policy {

// y = x W^T, W: [out, in]. Weights start uninitialised; TransformerImpl::init_weights fills them.
struct LinearImpl : torch::nn::Module {
  LinearImpl(int64_t in_features, int64_t out_features);
  at::Tensor forward(const at::Tensor& x) const { return at::linear(x, weight); }
  at::Tensor weight;  // [out, in]
};
TORCH_MODULE(Linear);

struct EmbeddingImpl : torch::nn::Module {
  EmbeddingImpl(int64_t n_vocab, int64_t dim);
  at::Tensor forward(const at::Tensor& ids) const { return at::embedding(weight, ids); }
  at::Tensor weight;  // [V, C]
};
TORCH_MODULE(Embedding);

// y = weight * (x * rsqrt(mean(x^2) + eps)); statistics in fp32, cast back before the weight (HF RMSNorm).
struct RMSNormImpl : torch::nn::Module {
  RMSNormImpl(int64_t dim, double eps);
  at::Tensor forward(const at::Tensor& x) const;
  at::Tensor weight;  // [dim], ones
  double eps;
};
TORCH_MODULE(RMSNorm);

// down(silu(gate(x)) * up(x)): the dense MLP and every expert.
struct SwiGLUImpl : torch::nn::Module {
  SwiGLUImpl(int64_t dim, int64_t hidden);
  at::Tensor forward(const at::Tensor& x) const;
  Linear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
};
TORCH_MODULE(SwiGLU);

// cos/sin of rotary embeddings for given positions: both [..., head_dim/2] float32, positions any int shape.
struct RopeAngles {
  at::Tensor cos, sin;
};
RopeAngles rope_angles(const at::Tensor& positions, int64_t head_dim, double theta);

// Half-rotation ("NeoX") RoPE: y[i] = x[i] c_i - x[i+d/2] s_i ; y[i+d/2] = x[i+d/2] c_i + x[i] s_i.
// x: [..., head_dim]; cos/sin broadcastable to [..., head_dim/2].
at::Tensor apply_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);

}  // namespace grpo::policy
