// The learner: turns a TrainBatch into one optimiser step. Micro-batches packed by a token budget, gradient
// accumulation, the GRPO loss (or SFT cross-entropy), the MoE load-balancing loss, gradient clipping, AdamW
// with linear warm-up and a constant or cosine schedule. It owns the optimiser, not the weights: the rollout
// engine reads the same Transformer.
#pragma once

#include <memory>
#include <string>

#include "policy/transformer.h"
#include "rl/loss.h"
#include "rl/dist.h"
#include "rl/spike_guard.h"

namespace torch::optim {
class AdamW;
}

namespace grpo::rl {

struct OptimConfig {
  double lr = 1e-3;              // peak learning rate
  std::string schedule = "constant";  // after warm-up: "constant" or "cosine" (to min_lr_ratio * lr)
  int64_t warmup_steps = 0;      // linear warm-up from lr / warmup_steps to lr
  int64_t total_steps = 0;       // the cosine schedule's length
  double min_lr_ratio = 0.0;     // cosine floor as a fraction of lr
  double weight_decay = 0.0;     // AdamW decoupled decay (Loshchilov & Hutter 2019)
  double beta1 = 0.9;
  double beta2 = 0.99;
  double eps = 1e-8;
  double grad_clip = 1.0;        // max global grad norm; 0 = off
  // prefix: the recipe section in messages ("rl.", "sft.").
  void validate(const std::string& prefix = "") const;
};

struct LearnerConfig {
  OptimConfig optim;
  LossConfig loss;
  int64_t micro_batch_tokens = 1024;   // padded tokens per forward/backward (small is fast on CPU caches)
  int64_t n_workers = 1;               // data-parallel threads, each with a replica of the model
  bool checkpoint_layers = false;      // activation checkpointing: each layer runs again in the backward (memory for compute)
  double aux_loss_coef = 0.01;         // Switch load-balancing loss weight, per micro-batch (as HF per forward); 0 = off
  at::ScalarType dtype = at::kFloat;   // compute dtype of the forwards (run.dtype): bfloat16 runs them under autocast
                                       // over the float32 weights, which AdamW updates (master weights and moments)
};

// A batch of sequences, right-padded: tokens [N, T]; lengths [N] real tokens per row; loss_mask [N, T-1]
// float (1 where tokens[:, t+1] is a completion token the loss covers); advantages [N]; old_logprobs and
// ref_logprobs [N, T-1] (0 off the mask; ref only with a KL term). SFT uses tokens, lengths, loss_mask.
struct RowRange {
  int64_t begin, end, t_len;  // rows [begin, end), padded to t_len tokens
};

struct TrainBatch {
  at::Tensor tokens, lengths, loss_mask, advantages, old_logprobs, ref_logprobs;
  // With rl.is_correction: the rollout engine's log-probs, while old_logprobs are the learner's own scores of the
  // same tokens before the update; the loss weighs each token by their importance weight.
  at::Tensor rollout_logprobs;
  // Routing replay: the rollout's experts, [N, T, layers * K] int64 (-1: the router chooses), forced in the learner's
  // forwards (rl.routing_replay), so a token's experts in the update are those it was sampled with.
  at::Tensor routes;
  // One source of truth: the temperature old_logprobs were taken at (the rollout's), which the learner and the
  // reference model score at too, so a first update's ratio is 1. SFT batches keep 1.
  double temperature = 1.0;
};

struct UpdateStats {
  double loss = 0, pg_loss = 0, aux_loss = 0, kl = 0, clip_fraction = 0, ratio_mean = 0, entropy = 0;
  double clip_low_fraction = 0, clip_high_fraction = 0;  // r < 1 - lo with A < 0; r > 1 + hi with A > 0
  double is_weight_mean = 0;  // mean rollout -> learner importance weight (1 when off)
  double routing_mismatch = 0;  // routing replay: share of (token, MoE layer) pairs whose own choice differed
  std::vector<double> expert_imbalance;  // per MoE layer: most-loaded expert's tokens / the mean (1 = balanced)
  std::vector<at::Tensor> expert_load;   // per MoE layer: tokens routed to each expert [E] (CPU), over the batch
  double grad_norm = 0, lr = 0, seconds = 0;
  int64_t tokens = 0;       // real tokens through the forward pass
  int64_t loss_tokens = 0;  // tokens carrying loss
  bool skipped = false;     // no update was applied: a non-finite loss or gradient, or the spike guard
  std::string skip_reason;
};

class Learner {
 public:
  Learner(policy::Transformer model, LearnerConfig cfg);
  ~Learner();

  UpdateStats grpo_update(const TrainBatch& batch);
  UpdateStats sft_update(const TrainBatch& batch);  // token-mean cross-entropy on the masked tokens

  double lr_at(int64_t step) const;
  int64_t step() const { return step_; }  // optimiser steps taken
  at::ScalarType compute_dtype() const { return cfg_.dtype; }
  void set_step(int64_t s) { step_ = s; }
  void save_optimizer(const std::string& path) const;
  // Copies the model's weights into the replicas; call after changing the weights from outside.
  void sync_replicas();
  void load_optimizer(const std::string& path);
  // The learner's own log-probs of the batch's masked tokens, now (no gradient): old_logprobs under is_correction.
  at::Tensor score(const TrainBatch& batch);
  const LearnerConfig& config() const { return cfg_; }
  // Judges every GRPO update before it is applied (not SFT's); null = only non-finite values are refused.
  void set_spike_guard(SpikeGuard* guard) { guard_ = guard; }
  // Data parallelism across processes: each rank updates on its share of the global batch; losses are normalised
  // by the global token and sequence counts, gradients summed over the ranks (bucketed all-reduce) before clipping,
  // so every rank takes the same step. Statistics are the global batch's. Null = this process alone.
  // A rank whose share is empty (every group of its slice without signal) still takes part: pass a batch of zero rows
  // (empty_batch) so the collectives line up.
  void set_dist(Dist* dist) { dist_ = dist; }
  // Rows of the batch over every rank (this one's alone without ranks): 0 = no rank has anything to learn from.
  int64_t global_rows(const TrainBatch& batch);
  // DeepSeek-V3's auxiliary-loss-free balancing after an update: each MoE layer with a score bias moves it by `rate`
  // against its load (UpdateStats::expert_load).
  void update_router_bias(const std::vector<at::Tensor>& expert_load, double rate);
  // A fresh optimiser (AdamW moments zero): a rollback with no checkpoint to return to.
  void reset_optimizer();

 private:
  enum class Kind { grpo, sft };
  struct Partial;  // one worker's share of the sums in UpdateStats
  struct LossWeights {
    at::Tensor loss, entropy;  // [N, T-1] per-token weights of the policy loss and of the entropy bonus
  };
  UpdateStats update(const TrainBatch& batch, Kind kind);
  // Forward and backward over some micro-batches on one replica, gradients accumulating in its .grad.
  void accumulate(policy::Transformer& replica, const TrainBatch& b, const LossWeights& weights,
                  const std::vector<RowRange>& ranges, Kind kind, Partial& out) const;

  policy::Transformer model_;
  std::vector<policy::Transformer> replicas_;  // workers 1..n-1; worker 0 uses model_
  LearnerConfig cfg_;
  std::unique_ptr<torch::optim::AdamW> optimizer_;
  SpikeGuard* guard_ = nullptr;
  Dist* dist_ = nullptr;
  int64_t global_rows_ = 0;  // this update's rows over all ranks (the load-balancing loss's share per micro-batch)
  int64_t step_ = 0;
};

// Log-probs of every masked token under `model` (no gradient), computing in `dtype` as the learner does: [N, T-1],
// 0 off the mask. The reference model's scores for the KL term, and the learner's side of the rollout parity test.
at::Tensor score_tokens(policy::Transformer& model, const TrainBatch& batch, double temperature,
                        int64_t micro_batch_tokens, at::ScalarType dtype = at::kFloat);

}  // namespace grpo::rl
