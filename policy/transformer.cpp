// The transformer's module tree, weight initialisation and its two forward paths; see transformer.h.
#include "policy/transformer.h"

#include <string>

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/grad_mode.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/custom_function.h>

#include "kernels/check.h"
#include "policy/device.h"

namespace grpo::policy {

DecoderLayerImpl::DecoderLayerImpl(const ModelConfig& cfg, int64_t layer, const at::TensorOptions& opts)
    : index(layer) {
  input_layernorm = register_module("input_layernorm", RMSNorm(cfg.n_embd, cfg.rms_norm_eps, opts));
  self_attn = register_module("self_attn", Attention(cfg, opts));
  post_attention_layernorm =
      register_module("post_attention_layernorm", RMSNorm(cfg.n_embd, cfg.rms_norm_eps, opts));
  if (cfg.is_moe_layer(layer)) {
    moe = register_module(cfg.info().moe_block, MoE(cfg, opts));
  } else {
    dense = register_module("mlp", SwiGLU(cfg.n_embd, cfg.n_ff, opts));
  }
}

TransformerImpl::TransformerImpl(const ModelConfig& cfg, uint64_t seed, bool init_weights, at::Device device)
    : config(cfg), rope(make_rope(cfg.rope_dim(), cfg.rope, cfg.max_position_embeddings)) {
  config.validate();
  GRPO_CHECK(device.is_cpu() || (device.is_meta() && !init_weights), "a Transformer is built on the CPU (then "
             "moved with ->to()) or, uninitialised, on the meta device; got ", device, " with init_weights=",
             init_weights);
  const at::TensorOptions opts = at::TensorOptions().device(device);
  model_root = register_module("model", std::make_shared<torch::nn::Module>());
  embed_tokens = model_root->register_module("embed_tokens", Embedding(cfg.n_vocab, cfg.n_embd, opts));
  auto layer_list = model_root->register_module("layers", std::make_shared<torch::nn::Module>());
  for (int64_t i = 0; i < cfg.n_layer; ++i) {
    layers.push_back(layer_list->register_module(std::to_string(i), DecoderLayer(cfg, i, opts)));
  }
  norm = model_root->register_module("norm", RMSNorm(cfg.n_embd, cfg.rms_norm_eps, opts));
  if (!cfg.tie_word_embeddings) lm_head = register_module("lm_head", Linear(cfg.n_embd, cfg.n_vocab, false, opts));

  if (!init_weights) return;
  // HF _init_weights: every matrix N(0, initializer_range), every norm weight one (already set).
  at::Generator gen = at::detail::createCPUGenerator(seed);
  at::NoGradGuard no_grad;
  for (auto& p : named_parameters()) {
    if (p.value().dim() >= 2) p.value().normal_(0.0, cfg.initializer_range, gen);
  }
}

at::Tensor TransformerImpl::output_weight() const {
  const at::Tensor& w = lm_head ? lm_head->weight : embed_tokens->weight;
  return output_vocab_ > 0 && output_vocab_ < w.size(0) ? w.narrow(0, 0, output_vocab_) : w;
}

void TransformerImpl::set_output_vocab(int64_t n) {
  GRPO_CHECK(n > 0 && n <= config.n_vocab, "output vocabulary ", n, " must be in [1, vocab_size = ", config.n_vocab,
             "]; hint: the tokenizer has more tokens than the model's embedding");
  output_vocab_ = n;
}

at::Tensor TransformerImpl::feed_forward(DecoderLayerImpl& layer, const at::Tensor& x, ForwardOutput* out,
                                         const at::Tensor& forced) {
  if (!layer.moe) return layer.dense->forward(x);
  auto shape = x.sizes().vec();
  MoEOutput m = layer.moe->forward(x.reshape({-1, shape.back()}), forced);
  if (out != nullptr) {
    out->replay_mismatch += m.replay_mismatch;
    out->router_logits.push_back(m.router_logits);
    out->expert_counts.push_back(m.expert_counts);
    out->routes.push_back(m.experts);
  }
  return m.y.view(shape);
}

at::Tensor TransformerImpl::layer_forward(DecoderLayerImpl& layer, const at::Tensor& h, const RopeAngles& angles,
                                          ForwardOutput* out, const at::Tensor& forced) {
  at::Tensor x = h + layer.self_attn->forward(layer.input_layernorm->forward(h), angles);
  return x + feed_forward(layer, layer.post_attention_layernorm->forward(x), out, forced);
}

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// A decoder layer under activation checkpointing: the forward runs without a graph and keeps the layer's input; the
// backward runs the layer again with a graph (in the forward's autocast dtype) and back-propagates through it, into
// the parameters' gradients and the input's. Outputs: the layer's output and, for an MoE layer, its router logits
// (the load-balancing loss differentiates them), else an empty tensor.
struct CheckpointedLayer : public torch::autograd::Function<CheckpointedLayer> {
  static variable_list forward(AutogradContext* ctx, const at::Tensor& h, const at::Tensor& cos, const at::Tensor& sin,
                               const at::Tensor& forced, TransformerImpl* model, DecoderLayerImpl* layer,
                               bool interleaved, ForwardOutput* out) {
    ForwardOutput local;
    // NOTE: `forced` is an empty tensor, not an undefined one, when nothing is replayed (autograd's inputs must be).
    const at::Tensor f = forced.numel() > 0 ? forced : at::Tensor();
    at::Tensor y = model->layer_forward(*layer, h, RopeAngles{cos, sin, interleaved}, &local, f);
    ctx->save_for_backward({h, cos, sin, forced});
    ctx->saved_data["model"] = reinterpret_cast<int64_t>(model);
    ctx->saved_data["layer"] = reinterpret_cast<int64_t>(layer);
    ctx->saved_data["interleaved"] = interleaved;
    ctx->saved_data["dtype"] = static_cast<int64_t>(autocast_dtype_now(h.device()));
    at::Tensor logits = local.router_logits.empty() ? at::zeros({0}, h.options()) : local.router_logits[0];
    if (out != nullptr) {
      out->replay_mismatch += local.replay_mismatch;
      for (auto& c : local.expert_counts) out->expert_counts.push_back(c);
      for (auto& r : local.routes) out->routes.push_back(r);
    }
    return {y, logits};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    auto* model = reinterpret_cast<TransformerImpl*>(ctx->saved_data["model"].toInt());
    auto* layer = reinterpret_cast<DecoderLayerImpl*>(ctx->saved_data["layer"].toInt());
    at::Tensor x = saved[0].detach().requires_grad_(true);
    std::vector<at::Tensor> outs, gs;
    {
      at::AutoGradMode grad(true);
      AutocastGuard autocast(x.device(), static_cast<at::ScalarType>(ctx->saved_data["dtype"].toInt()));
      ForwardOutput local;
      const at::Tensor f = saved[3].numel() > 0 ? saved[3] : at::Tensor();
      at::Tensor y = model->layer_forward(*layer, x, RopeAngles{saved[1], saved[2], ctx->saved_data["interleaved"].toBool()},
                                          &local, f);
      outs.push_back(y);
      gs.push_back(grads[0].defined() ? grads[0] : at::zeros_like(y));
      if (!local.router_logits.empty() && grads[1].defined() && grads[1].numel() > 0) {
        outs.push_back(local.router_logits[0]);
        gs.push_back(grads[1]);
      }
    }
    torch::autograd::backward(outs, gs);
    return {x.grad(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

ForwardOutput TransformerImpl::forward(const at::Tensor& tokens, const std::vector<at::Tensor>* forced_routes,
                                       bool checkpoint_layers) {
  GRPO_CHECK(tokens.dim() == 2, "forward expects tokens [N, T], got ", tokens.dim(), " dims");
  const int64_t T = tokens.size(1);
  RopeAngles angles = rope_angles(at::arange(T, tokens.options()), rope);
  ForwardOutput out;
  at::Tensor h = embed_tokens->forward(tokens);
  size_t moe_index = 0;
  for (auto& layer : layers) {
    at::Tensor forced;
    if (forced_routes != nullptr && layer->moe) {
      GRPO_CHECK(moe_index < forced_routes->size(), "routing replay: routes for ", forced_routes->size(),
                 " MoE layers, the model has more");
      forced = (*forced_routes)[moe_index++];
    }
    if (checkpoint_layers && at::GradMode::is_enabled()) {
      const at::Tensor f = forced.defined() ? forced : at::empty({0}, tokens.options());
      variable_list r = CheckpointedLayer::apply(h, angles.cos, angles.sin, f, this, layer.get(), angles.interleaved, &out);
      h = r[0];
      if (layer->moe) out.router_logits.push_back(r[1]);
    } else {
      h = layer_forward(*layer, h, angles, &out, forced);
    }
  }
  out.hidden = norm->forward(h);
  return out;
}

std::vector<TensorShape> model_tensor_shapes(const ModelConfig& cfg) {
  Transformer meta(cfg, /*seed=*/0, /*init_weights=*/false, at::kMeta);
  std::vector<TensorShape> out;
  for (const auto& p : meta->named_parameters()) out.push_back({p.key(), p.value().sizes().vec()});
  for (const auto& b : meta->named_buffers()) out.push_back({b.key(), b.value().sizes().vec()});
  return out;
}

at::Tensor TransformerImpl::forward_paged(const at::Tensor& tokens, const at::Tensor& q_pos, const PagedView& view,
                                          std::vector<at::Tensor>* routes) {
  GRPO_CHECK(tokens.dim() == 2 && q_pos.sizes() == tokens.sizes(), "forward_paged expects tokens and positions [R, n]");
  const PagedRows rows = paged_rows(view, q_pos);  // once for every layer
  RopeAngles angles = rope_angles(q_pos, rope);  // [R, n, rope_dim/2]
  at::Tensor h = embed_tokens->forward(tokens);   // [R, n, C]
  ForwardOutput out;
  for (auto& layer : layers) {
    h = h + layer->self_attn->forward_paged(layer->input_layernorm->forward(h), angles, view, rows, layer->index, q_pos);
    h = h + feed_forward(*layer, layer->post_attention_layernorm->forward(h), routes != nullptr ? &out : nullptr);
  }
  if (routes != nullptr) *routes = std::move(out.routes);
  return norm->forward(h);
}

}  // namespace grpo::policy
