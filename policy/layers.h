// The small building blocks of the transformer: Linear (no bias), Embedding, RMSNorm, the SwiGLU MLP and
// rotary position embeddings. Parameter names follow Hugging Face (`weight`, `gate_proj`, ...), so the
// module tree's named_parameters() are the checkpoint's tensor names. Math only: no I/O, no logging.
#pragma once

#include <ATen/ATen.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include "policy/model_config.h"

namespace grpo::policy {

// Every layer takes the TensorOptions its parameters are created with: the CPU by default, the meta device to
// know the names and shapes of a model without allocating it.

// y = x W^T (+ b), W: [out, in]. Weights start uninitialised; TransformerImpl fills them (biases with zeros).
struct LinearImpl : torch::nn::Module {
  LinearImpl(int64_t in_features, int64_t out_features, bool with_bias = false, const at::TensorOptions& opts = {});
  at::Tensor forward(const at::Tensor& x) const { return at::linear(x, weight, bias); }
  at::Tensor weight;  // [out, in]
  at::Tensor bias;    // [out], undefined unless with_bias
};
TORCH_MODULE(Linear);

struct EmbeddingImpl : torch::nn::Module {
  EmbeddingImpl(int64_t n_vocab, int64_t dim, const at::TensorOptions& opts = {});
  at::Tensor forward(const at::Tensor& ids) const { return at::embedding(weight, ids); }
  at::Tensor weight;  // [V, C]
};
TORCH_MODULE(Embedding);

// y = weight * (x * rsqrt(mean(x^2) + eps)); statistics in fp32, cast back before the weight (HF RMSNorm).
struct RMSNormImpl : torch::nn::Module {
  RMSNormImpl(int64_t dim, double eps, const at::TensorOptions& opts = {});
  at::Tensor forward(const at::Tensor& x) const;
  at::Tensor weight;  // [dim], ones
  double eps;
};
TORCH_MODULE(RMSNorm);

// down(silu(gate(x)) * up(x)): the dense MLP and every expert. The three projections are registered under the
// checkpoint's names (gate_proj/up_proj/down_proj, or Mixtral's w1/w3/w2).
struct SwiGLUImpl : torch::nn::Module {
  SwiGLUImpl(int64_t dim, int64_t hidden, const at::TensorOptions& opts = {}, const char* gate_name = "gate_proj",
             const char* up_name = "up_proj", const char* down_name = "down_proj");
  at::Tensor forward(const at::Tensor& x) const;
  Linear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
};
TORCH_MODULE(SwiGLU);

// Rotary embedding of one model: the inverse frequencies (with YaRN, linear or Llama 3 scaling already applied,
// computed in fp32 with the operations transformers uses), the factor on cos/sin, and the pair layout.
struct Rope {
  at::Tensor inv_freq;            // [dim/2] float32, CPU
  // inv_freq on the device the positions were last on (not the CPU): a decode step on CUDA then copies nothing
  // (a copy from pageable host memory would stall the host). Written only for non-CPU devices, one thread each.
  mutable at::Tensor inv_freq_on_device;
  double attention_factor = 1.0;  // multiplies cos and sin (YaRN)
  bool interleaved = false;
};
Rope make_rope(int64_t dim, const RopeConfig& cfg, int64_t max_position_embeddings);

// cos/sin of rotary embeddings for given positions: both [..., dim/2] float32, positions any int shape.
struct RopeAngles {
  at::Tensor cos, sin;
  bool interleaved = false;
};
RopeAngles rope_angles(const at::Tensor& positions, const Rope& rope);

// x: [..., dim]; cos/sin broadcastable to [..., dim/2].
// Halves ("NeoX"): y[i] = x[i] c_i - x[i+d/2] s_i ; y[i+d/2] = x[i+d/2] c_i + x[i] s_i.
// Interleaved (DeepSeek): pairs (x[2i], x[2i+1]) rotate by angle i; the result is written in the halves layout
// [rotated evens, rotated odds] as transformers does. q and k get the same permutation, so q.k is unchanged.
at::Tensor apply_rope(const at::Tensor& x, const RopeAngles& rope, const at::Tensor& cos, const at::Tensor& sin);

}  // namespace grpo::policy
