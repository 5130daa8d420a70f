// Token sampling: temperature, top-k, top-p, greedy; and the per-sequence random stream that makes samples
// independent of batch composition: the uniform for (seed, prompt id, sample index, step) is a pure hash.
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/ATen.h>

namespace grpo::rollout {

struct SamplingConfig {
  double temperature = 1.0;     // 0 = greedy (argmax); log-probs are then reported at temperature 1
  double top_p = 1.0;           // nucleus: keep the smallest prefix of sorted probs whose mass reaches top_p
  int64_t top_k = 0;            // keep the k most likely tokens; 0 = all
  double min_p = 0.0;           // drop tokens less likely than min_p times the most likely one; 0 = off
  int64_t max_new_tokens = 32;  // a completion ends with finish_reason length after this many tokens
  uint64_t seed = 0;            // with prompt id, sample index and step: the random stream
  void validate() const;
};

// Uniform in [0, 1) from a counter-based hash (splitmix64 rounds), identical on every machine and batch.
double stream_uniform(uint64_t seed, uint64_t prompt_id, uint64_t sample_index, uint64_t step);

// logprobs: [S, V] float32, log softmax of the temperature-scaled logits; uniforms: one per row.
// Returns the sampled token ids [S] int64 (argmax when cfg.temperature == 0). Rows are independent. The filters are
// transforms of the sorted probabilities, applied in order: top-k, top-p, min-p; then inverse-CDF sampling of what
// is left. NOTE: the log-prob the engine reports is the token's under the unfiltered tempered distribution, the one
// the learner computes.
at::Tensor sample_tokens(const at::Tensor& logprobs, const std::vector<double>& uniforms, const SamplingConfig& cfg);

}  // namespace grpo::rollout
