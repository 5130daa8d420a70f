// Optimiser steps over packed micro-batches; see learner.h.
#include "rl/learner.h"

#include <chrono>
#include <cmath>
#include <exception>
#include <optional>
#include <thread>

#include <ATen/core/grad_mode.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adamw.h>
#include <torch/serialize.h>

#include "kernels/check.h"
#include "policy/device.h"
#include "policy/logprobs.h"

namespace grpo::rl {

void OptimConfig::validate(const std::string& prefix) const {
  GRPO_CHECK(lr > 0, prefix, "lr must be > 0, got ", lr);
  GRPO_CHECK(schedule == "constant" || schedule == "cosine", prefix, "schedule must be constant or cosine, got '",
             schedule, "'");
  GRPO_CHECK(warmup_steps >= 0, prefix, "warmup_steps must be >= 0, got ", warmup_steps);
  GRPO_CHECK(schedule != "cosine" || total_steps > 0, prefix, "schedule = cosine needs ", prefix, "steps > 0");
  GRPO_CHECK(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1, prefix, "beta1 and ", prefix,
             "beta2 must be in [0, 1)");
  GRPO_CHECK(grad_clip >= 0, prefix, "grad_clip must be >= 0 (0 = off), got ", grad_clip);
}

namespace {

// Consecutive rows grouped so that rows * (longest row in the group) stays within the token budget.
std::vector<RowRange> split_rows(const at::Tensor& lengths, int64_t budget) {
  at::Tensor len = lengths.to(at::kCPU).to(at::kLong).contiguous();
  const int64_t* l = len.data_ptr<int64_t>();
  std::vector<RowRange> out;
  int64_t begin = 0, t_len = 0;
  for (int64_t i = 0; i < len.size(0); ++i) {
    int64_t t = std::max(t_len, l[i]);
    if (i > begin && (i - begin + 1) * t > budget) {
      out.push_back({begin, i, t_len});
      begin = i;
      t = l[i];
    }
    t_len = t;
  }
  if (len.size(0) > begin) out.push_back({begin, len.size(0), t_len});
  return out;
}

// The pieces of a micro-batch's forward pass the losses need, flat over its M masked tokens.
struct MaskedForward {
  policy::ForwardOutput fwd;
  at::Tensor index;  // [M] flat positions in [n, t_len-1]
  policy::TokenStats stats;
  int64_t replayed = 0;  // (token, MoE layer) pairs whose experts were forced
};

MaskedForward forward_masked(policy::Transformer& model, const TrainBatch& b, const RowRange& r, double temperature,
                             bool with_entropy, bool checkpoint_layers = false) {
  const int64_t n = r.end - r.begin, T = r.t_len;
  at::Tensor tok = b.tokens.narrow(0, r.begin, n).narrow(1, 0, T);
  at::Tensor mask = b.loss_mask.narrow(0, r.begin, n).narrow(1, 0, T - 1);
  MaskedForward m;
  if (b.routes.defined()) {
    // Routing replay: each MoE layer's slice of the recorded experts, [n * T, K].
    const int64_t K = model->config.n_expert_used;
    GRPO_CHECK(K > 0 && b.routes.size(2) % K == 0, "routing replay: the batch's routes (", b.routes.size(2),
               " per token) do not fit this model's ", K, " experts per token");
    at::Tensor rows = b.routes.narrow(0, r.begin, n).narrow(1, 0, T);
    std::vector<at::Tensor> forced;
    for (int64_t l = 0; l < b.routes.size(2) / K; ++l) {
      forced.push_back(rows.narrow(2, l * K, K).reshape({n * T, K}));
      m.replayed += (forced.back().select(1, 0) >= 0).sum().item<int64_t>();
    }
    m.fwd = model->forward(tok, &forced, checkpoint_layers);
  } else {
    m.fwd = model->forward(tok, nullptr, checkpoint_layers);
  }
  m.index = mask.reshape({-1}).nonzero().squeeze(1);
  const int64_t C = m.fwd.hidden.size(2);
  at::Tensor h = m.fwd.hidden.narrow(1, 0, T - 1).reshape({-1, C}).index_select(0, m.index);
  at::Tensor targets = tok.narrow(1, 1, T - 1).reshape({-1}).index_select(0, m.index);
  m.stats = policy::token_logprobs(h, model->output_weight(), targets, temperature, with_entropy);
  return m;
}

// x[r.begin:r.end, :t_len-1] flattened, at `index`.
at::Tensor gather_rows(const at::Tensor& x, const RowRange& r, const at::Tensor& index) {
  return x.narrow(0, r.begin, r.end - r.begin).narrow(1, 0, r.t_len - 1).reshape({-1}).index_select(0, index);
}

}  // namespace

Learner::Learner(policy::Transformer model, LearnerConfig cfg) : model_(std::move(model)), cfg_(std::move(cfg)) {
  cfg_.optim.validate();
  cfg_.loss.validate();
  GRPO_CHECK(cfg_.micro_batch_tokens > 0, "micro_batch_tokens must be > 0");
  GRPO_CHECK(cfg_.n_workers >= 1, "n_workers must be >= 1, got ", cfg_.n_workers);
  // NOTE: replicas are a CPU device's data parallelism; on a GPU one model takes the whole batch.
  if (!model_->embed_tokens->weight.device().is_cpu()) cfg_.n_workers = 1;
  for (int64_t w = 1; w < cfg_.n_workers; ++w) {
    policy::Transformer r(model_->config, 0);
    r->set_output_vocab(model_->output_vocab());
    r->to(model_->embed_tokens->weight.device());
    replicas_.push_back(r);
  }
  sync_replicas();
  reset_optimizer();
}

void Learner::reset_optimizer() {
  // Decoupled weight decay on the matrices only: norms' gains and biases keep theirs (as GPT-2 onwards, and TRL via
  // transformers' Trainer). Two parameter groups; the learning rate is set on both every step.
  std::vector<at::Tensor> decay, no_decay;
  for (const auto& p : model_->named_parameters()) {
    const bool vector_like = p.value().dim() < 2 || p.key().find("norm") != std::string::npos;
    (vector_like ? no_decay : decay).push_back(p.value());
  }
  auto options = [&](double wd) {
    return std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(cfg_.optim.lr)
                                                            .betas({cfg_.optim.beta1, cfg_.optim.beta2})
                                                            .eps(cfg_.optim.eps)
                                                            .weight_decay(wd));
  };
  // NOTE: without decay, one group, so optimiser states saved before the split still load.
  if (cfg_.optim.weight_decay == 0) decay = model_->parameters(), no_decay.clear();
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay, options(cfg_.optim.weight_decay));
  if (!no_decay.empty()) groups.emplace_back(no_decay, options(0.0));
  optimizer_ = std::make_unique<torch::optim::AdamW>(groups, torch::optim::AdamWOptions(cfg_.optim.lr));
}

Learner::~Learner() = default;

double Learner::lr_at(int64_t step) const {
  const OptimConfig& o = cfg_.optim;
  if (o.warmup_steps > 0 && step < o.warmup_steps) return o.lr * static_cast<double>(step + 1) / o.warmup_steps;
  if (o.schedule == "constant") return o.lr;
  double span = std::max<int64_t>(1, o.total_steps - o.warmup_steps);
  double progress = std::min(1.0, static_cast<double>(step - o.warmup_steps) / span);
  return o.lr * (o.min_lr_ratio + (1 - o.min_lr_ratio) * 0.5 * (1 + std::cos(M_PI * progress)));
}

UpdateStats Learner::grpo_update(const TrainBatch& batch) { return update(batch, Kind::grpo); }
UpdateStats Learner::sft_update(const TrainBatch& batch) { return update(batch, Kind::sft); }

struct Learner::Partial {
  double loss = 0, pg_loss = 0, aux_loss = 0, kl = 0, clip = 0, clip_low = 0, clip_high = 0, ratio = 0, entropy = 0;
  double is_weight = 0;
  int64_t loss_tokens = 0, replayed = 0, replay_mismatch = 0;
  std::vector<at::Tensor> expert_load;  // per MoE layer [E], real tokens only
  std::exception_ptr error;
};

void Learner::accumulate(policy::Transformer& replica, const TrainBatch& b, const LossWeights& weights,
                         const std::vector<RowRange>& ranges, Kind kind, Partial& st) const {
  const int64_t N = global_rows_ > 0 ? global_rows_ : b.tokens.size(0);
  const bool use_aux = cfg_.aux_loss_coef > 0 && replica->config.n_expert > 0;
  const LossConfig& loss_cfg = cfg_.loss;
  for (const RowRange& r : ranges) {
    const int64_t n = r.end - r.begin;
    // Forward and loss in the compute dtype; backward outside the autocast region, as torch.autocast advises.
    std::optional<policy::AutocastGuard> autocast;
    autocast.emplace(b.tokens.device(), cfg_.dtype);
    MaskedForward m = forward_masked(replica, b, r, b.temperature, /*with_entropy=*/true, cfg_.checkpoint_layers);
    at::Tensor w = gather_rows(weights.loss, r, m.index);
    at::Tensor loss;
    if (kind == Kind::grpo) {
      LossInputs in;
      in.logprobs = m.stats.logprobs;
      in.old_logprobs = gather_rows(b.old_logprobs, r, m.index);
      in.advantages = b.advantages.narrow(0, r.begin, n).unsqueeze(1).expand({n, r.t_len - 1}).reshape({-1})
                          .index_select(0, m.index);
      in.weights = w;
      in.seq = at::div(m.index, r.t_len - 1, "floor");
      in.n_seq = n;
      if (b.ref_logprobs.defined()) in.ref_logprobs = gather_rows(b.ref_logprobs, r, m.index);
      if (loss_cfg.is_correction != "none") {
        GRPO_CHECK(b.rollout_logprobs.defined(), "rl.is_correction needs the rollout's log-probs in the batch");
        in.is_weights = importance_weights(in.old_logprobs, gather_rows(b.rollout_logprobs, r, m.index), in.seq, n,
                                           loss_cfg.is_correction, loss_cfg.is_cap);
      }
      if (loss_cfg.entropy_coef > 0) {
        in.entropy = m.stats.entropy;
        in.entropy_weights = gather_rows(weights.entropy, r, m.index);
      }
      LossOutput lo = policy_loss(in, loss_cfg);
      loss = lo.loss;
      const double share = static_cast<double>(m.index.size(0));
      st.pg_loss += lo.stats.pg_loss;
      st.clip += lo.stats.clip_fraction * share;
      st.clip_low += lo.stats.clip_low_fraction * share;
      st.clip_high += lo.stats.clip_high_fraction * share;
      st.ratio += lo.stats.ratio_mean * share;
      st.kl += lo.stats.kl * share;
      st.is_weight += in.is_weights.defined() ? in.is_weights.sum().item<double>() : share;
    } else {
      loss = -(m.stats.logprobs * w).sum();
    }
    if (use_aux) {
      at::Tensor real = at::arange(r.t_len, b.lengths.options()).unsqueeze(0) <
                        b.lengths.narrow(0, r.begin, n).unsqueeze(1);  // [n, T]
      at::Tensor aux = policy::load_balancing_loss(m.fwd.router_logits, replica->config.n_expert_used, real);
      st.aux_loss += aux.item<double>() * n / N;
      loss = loss + cfg_.aux_loss_coef * aux * (static_cast<double>(n) / N);
    }
    if (replica->config.n_expert > 0) {
      at::NoGradGuard no_grad;
      at::Tensor real = (at::arange(r.t_len, b.lengths.options()).unsqueeze(0) <
                         b.lengths.narrow(0, r.begin, n).unsqueeze(1)).reshape({-1});
      for (size_t l = 0; l < m.fwd.routes.size(); ++l) {
        at::Tensor chosen = m.fwd.routes[l].index_select(0, real.nonzero().squeeze(1)).reshape({-1});
        at::Tensor load = at::bincount(chosen.cpu(), {}, replica->config.n_expert);
        if (st.expert_load.size() <= l) st.expert_load.push_back(at::zeros_like(load));
        st.expert_load[l] += load;
      }
      st.replayed += m.replayed;
      st.replay_mismatch += m.fwd.replay_mismatch;
    }
    autocast.reset();
    loss.backward();
    st.loss += loss.item<double>();
    st.loss_tokens += m.index.size(0);
    st.entropy += m.stats.entropy.detach().sum().item<double>();
  }
}

void Learner::sync_replicas() {
  at::NoGradGuard no_grad;
  auto main = model_->parameters();
  auto main_buffers = model_->buffers();  // DeepSeek-V3's router bias moves too (rl.router_bias_rate)
  for (auto& r : replicas_) {
    auto params = r->parameters();
    for (size_t i = 0; i < main.size(); ++i) params[i].copy_(main[i]);
    auto buffers = r->buffers();
    for (size_t i = 0; i < main_buffers.size(); ++i) buffers[i].copy_(main_buffers[i]);
  }
}

void Learner::update_router_bias(const std::vector<at::Tensor>& expert_load, double rate) {
  size_t l = 0;
  for (auto& layer : model_->layers) {
    if (!layer->moe) continue;
    GRPO_CHECK(l < expert_load.size(), "update_router_bias: loads for ", expert_load.size(), " MoE layers");
    if (layer->moe->score_bias.defined()) layer->moe->update_router_bias(expert_load[l], rate);
    ++l;
  }
  sync_replicas();
}

UpdateStats Learner::update(const TrainBatch& b, Kind kind) {
  auto t0 = std::chrono::steady_clock::now();
  GRPO_CHECK(b.tokens.dim() == 2 && b.loss_mask.size(0) == b.tokens.size(0) &&
                 b.loss_mask.size(1) == b.tokens.size(1) - 1,
             "TrainBatch: tokens [N, T] and loss_mask [N, T-1] disagree");
  model_->train();
  optimizer_->zero_grad();
  for (auto& r : replicas_) r->zero_grad();
  UpdateStats st;
  st.lr = lr_at(step_);
  // Token weights over the whole batch, so micro-batches add up to the batch's loss.
  // With ranks, over the global batch: the normalisers are the sums over all ranks' shares.
  double total_tokens = 0, total_rows = 0;
  global_rows_ = 0;
  if (dist_ != nullptr) {
    auto t = dist_->all_reduce_sum(std::vector<double>{b.loss_mask.sum().item<double>(), static_cast<double>(b.tokens.size(0))},
                                   "the batch's token and sequence counts");
    total_tokens = t[0], total_rows = t[1];
    global_rows_ = static_cast<int64_t>(t[1]);
  }
  LossWeights weights;
  weights.loss = aggregation_weights(b.loss_mask, kind == Kind::grpo ? cfg_.loss.aggregation : LossAggregation::token_mean,
                                     cfg_.loss.constant_norm, total_tokens, total_rows);  // SFT: plain token mean
  if (kind == Kind::grpo && cfg_.loss.entropy_coef > 0) {
    weights.entropy = aggregation_weights(b.loss_mask, LossAggregation::token_mean, 1.0, total_tokens, total_rows);
  }

  // Micro-batches dealt to the workers by padded tokens (largest share to the least loaded), so the
  // assignment, and with it the result, does not depend on thread timing.
  const size_t n_workers = 1 + replicas_.size();
  std::vector<std::vector<RowRange>> share(n_workers);
  std::vector<int64_t> load(n_workers, 0);
  // Every worker gets work: micro-batches no larger than an even share of the padded batch.
  const int64_t share_tokens =
      std::max<int64_t>(1, (b.tokens.numel() + static_cast<int64_t>(n_workers) - 1) / static_cast<int64_t>(n_workers));
  for (const RowRange& r : split_rows(b.lengths, std::min(cfg_.micro_batch_tokens, share_tokens))) {
    size_t w = static_cast<size_t>(std::min_element(load.begin(), load.end()) - load.begin());
    share[w].push_back(r);
    load[w] += (r.end - r.begin) * r.t_len;
  }
  std::vector<Partial> parts(n_workers);
  auto work = [&](size_t w) {
    try {
      policy::Transformer& replica = w == 0 ? model_ : replicas_[w - 1];
      accumulate(replica, b, weights, share[w], kind, parts[w]);
    } catch (...) {
      parts[w].error = std::current_exception();
    }
  };
  std::vector<std::thread> threads;
  for (size_t w = 1; w < n_workers; ++w) {
    if (!share[w].empty()) threads.emplace_back(work, w);
  }
  work(0);
  for (auto& t : threads) t.join();
  for (const Partial& p : parts) {
    if (p.error) std::rethrow_exception(p.error);
  }
  double entropy_sum = 0;
  int64_t replayed = 0, mismatch = 0;
  for (const Partial& p : parts) {
    st.loss += p.loss;
    st.pg_loss += p.pg_loss;
    st.aux_loss += p.aux_loss;
    st.kl += p.kl;
    st.clip_fraction += p.clip;
    st.clip_low_fraction += p.clip_low;
    st.clip_high_fraction += p.clip_high;
    st.is_weight_mean += p.is_weight;
    replayed += p.replayed;
    mismatch += p.replay_mismatch;
    for (size_t l = 0; l < p.expert_load.size(); ++l) {
      if (st.expert_load.size() <= l) st.expert_load.push_back(at::zeros_like(p.expert_load[l]));
      st.expert_load[l] += p.expert_load[l];
    }
    st.ratio_mean += p.ratio;
    entropy_sum += p.entropy;
    st.loss_tokens += p.loss_tokens;
  }
  // Replica gradients into the model's, in worker order.
  auto params = model_->parameters();
  for (auto& r : replicas_) {
    auto rp = r->parameters();
    for (size_t i = 0; i < params.size(); ++i) {
      if (!rp[i].grad().defined()) continue;
      if (params[i].grad().defined()) {
        params[i].mutable_grad().add_(rp[i].grad());
      } else {
        params[i].mutable_grad() = rp[i].grad().clone();
      }
    }
  }
  st.tokens = b.lengths.sum().item<int64_t>();
  if (dist_ != nullptr && st.expert_load.empty()) {
    // A rank with no rows routed nothing: zero loads, so that every rank's all-reduce of them lines up.
    for (const auto& layer : model_->layers) {
      if (layer->moe) st.expert_load.push_back(at::zeros({model_->config.n_expert}, at::kLong));
    }
  }
  if (dist_ != nullptr) {
    // Every parameter takes part (an expert no token of this rank chose has a zero gradient here, not none).
    std::vector<at::Tensor> grads;
    for (auto& p : params) {
      if (!p.grad().defined()) p.mutable_grad() = at::zeros_like(p);
      grads.push_back(p.grad());
    }
    dist_->all_reduce_sum(grads, "gradients");
    auto g = dist_->all_reduce_sum(std::vector<double>{st.loss, st.pg_loss, st.aux_loss, st.kl, st.clip_fraction, st.clip_low_fraction,
                                    st.clip_high_fraction, st.is_weight_mean, st.ratio_mean, entropy_sum,
                                    static_cast<double>(st.loss_tokens), static_cast<double>(st.tokens),
                                    static_cast<double>(replayed), static_cast<double>(mismatch)},
                                   "the update's statistics");
    st.loss = g[0], st.pg_loss = g[1], st.aux_loss = g[2], st.kl = g[3], st.clip_fraction = g[4];
    st.clip_low_fraction = g[5], st.clip_high_fraction = g[6], st.is_weight_mean = g[7], st.ratio_mean = g[8];
    entropy_sum = g[9];
    st.loss_tokens = static_cast<int64_t>(g[10]), st.tokens = static_cast<int64_t>(g[11]);
    replayed = static_cast<int64_t>(g[12]), mismatch = static_cast<int64_t>(g[13]);
    if (!st.expert_load.empty()) dist_->all_reduce_sum(st.expert_load, "expert loads");
  }
  const double tokens = std::max<int64_t>(1, st.loss_tokens);
  st.entropy = entropy_sum / tokens;
  st.clip_fraction /= tokens;
  st.clip_low_fraction /= tokens;
  st.clip_high_fraction /= tokens;
  st.is_weight_mean /= tokens;
  st.routing_mismatch = replayed > 0 ? static_cast<double>(mismatch) / static_cast<double>(replayed) : 0.0;
  for (const at::Tensor& load : st.expert_load) {
    const double mean = load.to(at::kDouble).mean().item<double>();
    st.expert_imbalance.push_back(mean > 0 ? load.max().item<int64_t>() / mean : 0.0);
  }
  st.ratio_mean /= tokens;
  st.kl /= tokens;

  double norm = torch::nn::utils::clip_grad_norm_(params, cfg_.optim.grad_clip > 0 ? cfg_.optim.grad_clip : 1e30);
  st.grad_norm = norm;
  // NOTE: a non-finite gradient would poison AdamW's moments for good; such a step, or a spike, is skipped.
  if (kind == Kind::grpo && guard_ != nullptr) {
    st.skip_reason = guard_->judge(st.loss, norm);
  } else if (!std::isfinite(norm) || !std::isfinite(st.loss)) {
    st.skip_reason = std::isfinite(norm) ? "loss is not finite" : "grad norm is not finite";
  }
  if (!st.skip_reason.empty()) {
    st.skipped = true;
    optimizer_->zero_grad();
    if (kind == Kind::grpo && guard_ != nullptr) guard_->reject(step_);
  } else {
    if (kind == Kind::grpo && guard_ != nullptr) guard_->accept(st.loss, norm);
    for (auto& group : optimizer_->param_groups()) {
      static_cast<torch::optim::AdamWOptions&>(group.options()).lr(st.lr);
    }
    optimizer_->step();
    sync_replicas();
  }
  ++step_;
  st.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return st;
}

int64_t Learner::global_rows(const TrainBatch& batch) {
  const int64_t rows = batch.tokens.defined() ? batch.tokens.size(0) : 0;
  if (dist_ == nullptr) return rows;
  return static_cast<int64_t>(
      dist_->all_reduce_sum(std::vector<double>{static_cast<double>(rows)}, "the batch's row count")[0]);
}

void Learner::save_optimizer(const std::string& path) const { torch::save(*optimizer_, path); }

void Learner::load_optimizer(const std::string& path) {
  try {
    torch::load(*optimizer_, path, model_->embed_tokens->weight.device());  // a CPU checkpoint resumes on CUDA
  } catch (const c10::Error& e) {
    GRPO_FAIL("cannot load optimizer state from ", path, ": ", e.what_without_backtrace(),
              "; hint: the checkpoint may be from a different model");
  }
}

at::Tensor Learner::score(const TrainBatch& batch) {
  return score_tokens(model_, batch, batch.temperature, cfg_.micro_batch_tokens, cfg_.dtype);
}

at::Tensor score_tokens(policy::Transformer& model, const TrainBatch& b, double temperature,
                        int64_t micro_batch_tokens, at::ScalarType dtype) {
  at::NoGradGuard no_grad;
  policy::AutocastGuard autocast(b.tokens.device(), dtype);
  const int64_t N = b.tokens.size(0), T = b.tokens.size(1);
  at::Tensor out = at::zeros({N, T - 1}, at::TensorOptions().dtype(at::kFloat).device(b.tokens.device()));
  for (const RowRange& r : split_rows(b.lengths, micro_batch_tokens)) {
    MaskedForward m = forward_masked(model, b, r, temperature, /*with_entropy=*/false);
    at::Tensor part = at::zeros({(r.end - r.begin) * (r.t_len - 1)}, out.options());
    part.index_copy_(0, m.index, m.stats.logprobs);
    out.narrow(0, r.begin, r.end - r.begin).narrow(1, 0, r.t_len - 1).copy_(part.view({r.end - r.begin, -1}));
  }
  return out;
}

}  // namespace grpo::rl
