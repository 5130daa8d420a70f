// Building blocks of the transformer; see layers.h.
#include "policy/layers.h"

#include <algorithm>
#include <cmath>

#include <c10/core/InferenceMode.h>

namespace grpo::policy {

LinearImpl::LinearImpl(int64_t in_features, int64_t out_features, bool with_bias, const at::TensorOptions& opts) {
  weight = register_parameter("weight", at::empty({out_features, in_features}, opts));
  if (with_bias) bias = register_parameter("bias", at::zeros({out_features}, opts));
}

EmbeddingImpl::EmbeddingImpl(int64_t n_vocab, int64_t dim, const at::TensorOptions& opts) {
  weight = register_parameter("weight", at::empty({n_vocab, dim}, opts));
}

RMSNormImpl::RMSNormImpl(int64_t dim, double eps_, const at::TensorOptions& opts) : eps(eps_) {
  weight = register_parameter("weight", at::ones({dim}, opts));
}

at::Tensor RMSNormImpl::forward(const at::Tensor& x) const {
  at::Tensor x32 = x.to(at::kFloat);
  at::Tensor y = x32 * at::rsqrt(x32.pow(2).mean(-1, /*keepdim=*/true) + eps);
  return weight * y.to(x.scalar_type());
}

SwiGLUImpl::SwiGLUImpl(int64_t dim, int64_t hidden, const at::TensorOptions& opts, const char* gate_name,
                       const char* up_name, const char* down_name) {
  gate_proj = register_module(gate_name, Linear(dim, hidden, false, opts));
  up_proj = register_module(up_name, Linear(dim, hidden, false, opts));
  down_proj = register_module(down_name, Linear(hidden, dim, false, opts));
}

at::Tensor SwiGLUImpl::forward(const at::Tensor& x) const {
  return down_proj->forward(at::silu(gate_proj->forward(x)) * up_proj->forward(x));
}

Rope make_rope(int64_t dim, const RopeConfig& cfg, int64_t max_position_embeddings) {
  Rope r;
  r.interleaved = cfg.interleaved;
  auto f32 = at::TensorOptions().dtype(at::kFloat);
  // theta^(2i/d) in fp32, as transformers computes it.
  at::Tensor pos_freqs = at::pow(cfg.theta, at::arange(0, dim, 2, at::kLong).to(at::kFloat) / static_cast<double>(dim));
  at::Tensor inv = 1.0 / pos_freqs;
  if (cfg.type == "linear") {
    r.inv_freq = inv / cfg.factor;
  } else if (cfg.type == "yarn") {
    // YaRN (Peng et al. 2023; transformers _compute_yarn_parameters): interpolate the low frequencies by `factor`,
    // keep the high ones, blend linearly between the correction dims of beta_fast and beta_slow rotations.
    const double orig = static_cast<double>(cfg.original_max_position_embeddings > 0
                                                ? cfg.original_max_position_embeddings
                                                : max_position_embeddings);
    auto corr_dim = [&](double rotations) {
      return dim * std::log(orig / (rotations * 2.0 * M_PI)) / (2.0 * std::log(cfg.theta));
    };
    double low = corr_dim(cfg.beta_fast), high = corr_dim(cfg.beta_slow);
    if (cfg.truncate) low = std::floor(low), high = std::ceil(high);
    low = std::max(low, 0.0);
    high = std::min(high, static_cast<double>(dim - 1));
    if (low == high) high += 0.001;
    at::Tensor ramp = ((at::arange(dim / 2, f32) - low) / (high - low)).clamp(0.0, 1.0);
    at::Tensor extrapolate = 1.0 - ramp;
    r.inv_freq = (1.0 / (cfg.factor * pos_freqs)) * (1.0 - extrapolate) + inv * extrapolate;
    if (cfg.attention_factor > 0) {
      r.attention_factor = cfg.attention_factor;
    } else if (cfg.mscale != 0.0 && cfg.mscale_all_dim != 0.0) {
      r.attention_factor = yarn_mscale(cfg.factor, cfg.mscale) / yarn_mscale(cfg.factor, cfg.mscale_all_dim);
    } else {
      r.attention_factor = yarn_mscale(cfg.factor, 1.0);
    }
  } else if (cfg.type == "llama3") {
    // Llama 3.1 (transformers _compute_llama3_parameters, the same operations in the same order): wavelengths
    // longer than orig/low_freq_factor are divided by `factor`, shorter than orig/high_freq_factor kept, and the
    // band between blended by how many times the wavelength fits in the original context.
    const double orig = static_cast<double>(cfg.original_max_position_embeddings > 0
                                                ? cfg.original_max_position_embeddings
                                                : max_position_embeddings);
    const double low_wavelen = orig / cfg.low_freq_factor, high_wavelen = orig / cfg.high_freq_factor;
    at::Tensor wavelen = inv.reciprocal() * (2.0 * M_PI);
    at::Tensor scaled = at::where(wavelen > low_wavelen, inv / cfg.factor, inv);
    at::Tensor smooth =
        (wavelen.reciprocal() * orig - cfg.low_freq_factor) / (cfg.high_freq_factor - cfg.low_freq_factor);
    at::Tensor smoothed = (1.0 - smooth) * scaled / cfg.factor + smooth * scaled;
    at::Tensor medium =
        at::logical_and(at::logical_not(wavelen < high_wavelen), at::logical_not(wavelen > low_wavelen));
    r.inv_freq = at::where(medium, smoothed, scaled);
  } else {
    r.inv_freq = inv;
  }
  return r;
}

RopeAngles rope_angles(const at::Tensor& positions, const Rope& rope) {
  const at::Device device = positions.device();
  if (!device.is_cpu() && (!rope.inv_freq_on_device.defined() || rope.inv_freq_on_device.device() != device)) {
    c10::InferenceMode normal(false);  // a normal tensor: the learner's autograd may use it after a rollout made it
    rope.inv_freq_on_device = rope.inv_freq.to(device);
  }
  const at::Tensor& inv_freq = device.is_cpu() ? rope.inv_freq : rope.inv_freq_on_device;
  at::Tensor freqs = positions.to(at::kFloat).unsqueeze(-1) * inv_freq;
  RopeAngles a{freqs.cos(), freqs.sin(), rope.interleaved};
  if (rope.attention_factor != 1.0) {
    a.cos = a.cos * rope.attention_factor;
    a.sin = a.sin * rope.attention_factor;
  }
  return a;
}

at::Tensor apply_rope(const at::Tensor& x, const RopeAngles& rope, const at::Tensor& cos, const at::Tensor& sin) {
  const int64_t half = x.size(-1) / 2;
  at::Tensor x1, x2;
  if (rope.interleaved) {
    x1 = x.slice(-1, 0, x.size(-1), 2);
    x2 = x.slice(-1, 1, x.size(-1), 2);
  } else {
    x1 = x.narrow(-1, 0, half);
    x2 = x.narrow(-1, half, half);
  }
  at::Tensor c = cos.to(x.scalar_type()), s = sin.to(x.scalar_type());
  return at::cat({x1 * c - x2 * s, x2 * c + x1 * s}, -1);
}

}  // namespace grpo::policy
