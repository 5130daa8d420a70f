// The rollout engine: samples G completions per prompt from the policy over a paged KV cache (rollout/kv_cache.h).
// The G samples of a prompt share its blocks (prefilled once; the last partial block is copied for each sample), and
// full prompt blocks already cached for another prompt are reused. A scheduler admits waiting sequences while blocks
// and running slots allow, prefills long prompts in chunks, frees a finished sequence's blocks at once, and when the
// pool runs out preempts the youngest sequences, which start over later with the same result (a sequence's tokens
// depend only on its prompt, its random stream and the weights). Stops at any EOS id, at a stop string of any length,
// or at the token budget. Returns each sampled token's log-prob. It does not score or train: in float32 the learner
// and the engine share one Transformer; in another dtype (bfloat16 on a GPU) the engine keeps its own copy of the
// learner's weights, refreshed by sync_weights after each update.
#pragma once

#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "policy/tokenizer/tokenizer.h"
#include "policy/transformer.h"
#include "rollout/kv_cache.h"
#include "rollout/sampler.h"
#include "rollout/types.h"

namespace grpo::rollout {

struct EngineConfig {
  int64_t max_batch = 512;     // running sequences at most (split among the workers)
  int64_t n_workers = 1;       // CPU threads, each generating a contiguous share of the prompts with its own pool
  int64_t max_seq_len = 256;   // prompt + completion tokens of one sequence
  int64_t block_size = 16;     // tokens per KV block
  int64_t kv_cache_mb = 0;     // the block pool (all workers); 0 = room for max_batch sequences of max_seq_len
  int64_t kv_blocks = 0;       // blocks per worker, when set (tests, benchmarks): overrides kv_cache_mb
  int64_t max_prefill_tokens = 4096;  // tokens through one prefill forward (rows x chunk): long prompts go in chunks
  bool share_prefix = true;    // samples share their prompt's blocks; cached full prompt blocks are reused
  std::vector<std::string> stop;  // stop strings of any length ("</answer>"): a completion ends with the token that
                                  // completes one in its decoded text, and keeps that token
  std::vector<int64_t> eos_ids;   // the model's EOS ids (every one stops); empty = the tokenizer's eos_id()
  bool ignore_eos = false;           // benchmarks: every sequence runs to its token budget (stop strings still stop)
  bool record_routing = false;       // MoE: return the experts chosen for each generated token (Completion::routing)
  at::ScalarType dtype = at::kFloat;  // the weights generated with (run.dtype): the model's own dtype shares its
                                      // tensors, another one makes a copy (rollout in bf16, learner in fp32)
};

struct GenerationStats {
  int64_t prompt_tokens = 0;      // prompt tokens run through the model (cached and shared ones not counted)
  int64_t prefix_hit_tokens = 0;  // prompt tokens whose K/V came from the prefix index
  int64_t generated_tokens = 0;
  int64_t decode_steps = 0;
  int64_t prefills = 0;           // prefill forwards (a chunked prompt takes several)
  int64_t preemptions = 0;        // sequences evicted when the pool ran out (recomputed later)
  int64_t kv_blocks_peak = 0;     // most blocks in use at once (summed over workers)
  int64_t kv_block_bytes = 0;     // bytes of one block over all layers
  double seconds = 0.0;
  // Adds s's token, step, prefill and preemption counts (not the peak, block size or time, which combine otherwise).
  void add_counts(const GenerationStats& s) {
    prompt_tokens += s.prompt_tokens;
    prefix_hit_tokens += s.prefix_hit_tokens;
    generated_tokens += s.generated_tokens;
    decode_steps += s.decode_steps;
    prefills += s.prefills;
    preemptions += s.preemptions;
  }
};

class RolloutEngine {
 public:
  RolloutEngine(policy::Transformer model, std::shared_ptr<const policy::Tokenizer> tokenizer, EngineConfig cfg);

  // n_samples completions per prompt, ordered [prompt 0 sample 0..G-1, prompt 1 ...]. Deterministic given
  // sampling.seed, prompt ids and the weights, whatever max_batch is, on the CPU; on CUDA the kernels chosen depend
  // on the batch's shape, so a different max_batch can round differently.
  // on_finish, if set, gets each completion as soon as it is finished (its index in the result, the completion), from
  // the worker thread that finished it: scoring can start while the rest is still generating.
  using FinishCallback = std::function<void(size_t, const Completion&)>;
  std::vector<Completion> generate(const std::vector<Prompt>& prompts, int64_t n_samples,
                                   const SamplingConfig& sampling, const FinishCallback& on_finish = {});

  // Summed over workers; seconds is the wall-clock time of the call.
  const GenerationStats& last_stats() const { return stats_; }
  // Weight sync, colocated: the engine's own low-precision copy takes the learner's current weights; sharing the
  // learner's tensors, nothing is copied. Either way `version` is stamped on the completions that follow.
  void sync_weights(int64_t version);
  int64_t policy_version() const { return version_; }
  int64_t max_batch() const { return cfg_.max_batch; }

 private:
  struct Sequence;
  struct Worker {
    std::unique_ptr<BlockPool> pool;
    int64_t slots = 1;  // running sequences at most
    GenerationStats stats;
  };
  struct Batch;  // one worker's call: its prompts, queue, running sequences and results
  // The scheduling loop of one worker over its prompts; out holds n_samples per prompt.
  void run_worker(Worker& w, const std::vector<Prompt>& prompts, int64_t n_samples, const SamplingConfig& sampling,
                  std::vector<Completion>& out, size_t first_index, const FinishCallback& on_finish);
  // Admits waiting sequences that fit (running cap, free blocks), prefills their prompts, samples first tokens.
  void admit(Worker& w, Batch& b);
  // Gives every running sequence a block for its next position, preempting the youngest when the pool is empty.
  void reserve_next_blocks(Worker& w, Batch& b);
  void decode_step(Worker& w, Batch& b);
  void preempt(Worker& w, Batch& b, Sequence& seq);
  void release(Worker& w, Sequence& seq);
  // [R, nb] block tables on the device, padded with the scratch block.
  at::Tensor block_table(const std::vector<const std::vector<int64_t>*>& tables, int64_t nb) const;
  // Whether the newest token completed one of the stop strings.
  bool completes_stop_string(const Sequence& seq) const;
  // Appends `token` (sampled with `logprob`) to seq; returns true when the sequence is finished.
  bool push_token(Sequence& seq, int64_t token, float logprob, const SamplingConfig& sampling);
  void finish(Sequence& seq, FinishReason reason, Batch& b);

  policy::Transformer source_{nullptr};  // the learner's model
  policy::Transformer model_{nullptr};   // what generates: source_ itself, or its copy in cfg_.dtype
  std::shared_ptr<const policy::Tokenizer> tokenizer_;
  EngineConfig cfg_;
  std::vector<int64_t> eos_ids_;
  size_t stop_tail_tokens_ = 0;  // tokens decoded to look for a stop string (longest stop string's bytes + 1)
  std::vector<bool> may_end_stop_;  // per token id: its text holds the last byte of a stop string (empty: check all)
  std::vector<Worker> workers_;
  GenerationStats stats_;
  int64_t version_ = 0;
};

}  // namespace grpo::rollout
