// Sampling by inverse CDF over the (filtered) distribution; see sampler.h.
#include "rollout/sampler.h"

#include "kernels/check.h"
#include "kernels/hash.h"
#include "policy/device.h"

namespace grpo::rollout {

void SamplingConfig::validate() const {
  GRPO_CHECK(temperature >= 0, "temperature must be >= 0 (0 = greedy), got ", temperature);
  GRPO_CHECK(top_p > 0 && top_p <= 1, "top_p must be in (0, 1], got ", top_p);
  GRPO_CHECK(top_k >= 0, "top_k must be >= 0 (0 = off), got ", top_k);
  GRPO_CHECK(min_p >= 0 && min_p < 1, "min_p must be in [0, 1) (0 = off), got ", min_p);
  GRPO_CHECK(max_new_tokens > 0, "max_new_tokens must be > 0, got ", max_new_tokens);
}

double stream_uniform(uint64_t seed, uint64_t prompt_id, uint64_t sample_index, uint64_t step) {
  uint64_t h = mix64(seed);
  h = mix64(h ^ prompt_id);
  h = mix64(h ^ sample_index);
  h = mix64(h ^ step);
  return static_cast<double>(h >> 11) * 0x1.0p-53;
}

namespace {
// Each filter zeroes some of the probabilities probs [S, V] sorted in descending order, in place.
void keep_top_k(at::Tensor& probs, int64_t k) { probs.narrow(1, k, probs.size(1) - k).zero_(); }
void keep_top_p(at::Tensor& probs, double p) {
  // Drop a token when the mass before it already reaches top_p (the first token always stays).
  at::Tensor before = probs.cumsum(-1) - probs;
  probs.masked_fill_(before >= p, 0.0);
}
void keep_min_p(at::Tensor& probs, double p) { probs.masked_fill_(probs < probs.narrow(1, 0, 1) * p, 0.0); }
}  // namespace

at::Tensor sample_tokens(const at::Tensor& logprobs, const std::vector<double>& uniforms, const SamplingConfig& cfg) {
  const int64_t S = logprobs.size(0), V = logprobs.size(1);
  GRPO_CHECK(static_cast<int64_t>(uniforms.size()) == S, "sample_tokens: ", uniforms.size(), " uniforms for ", S,
             " rows");
  if (cfg.temperature == 0) return logprobs.argmax(-1);
  at::Tensor probs = logprobs.exp().to(at::kDouble);
  at::Tensor order;  // when filtering, probabilities sorted descending and the ids they came from
  const bool top_k = cfg.top_k > 0 && cfg.top_k < V;
  if (top_k || cfg.top_p < 1.0 || cfg.min_p > 0) {
    auto sorted = probs.sort(/*dim=*/-1, /*descending=*/true);
    probs = std::get<0>(sorted);
    order = std::get<1>(sorted);
    if (top_k) keep_top_k(probs, cfg.top_k);
    if (cfg.top_p < 1.0) keep_top_p(probs, cfg.top_p);
    if (cfg.min_p > 0) keep_min_p(probs, cfg.min_p);
  }
  at::Tensor cdf = probs.cumsum(-1);  // [S, V] double
  at::Tensor u = policy::to_device(at::tensor(uniforms, at::TensorOptions().dtype(at::kDouble)), cdf.device());
  at::Tensor target = (u * cdf.select(1, V - 1)).unsqueeze(1);
  // First index whose cdf exceeds u * total: never a zero-probability token.
  at::Tensor pick = at::searchsorted(cdf, target, /*out_int32=*/false, /*right=*/true).clamp_max(V - 1).squeeze(1);
  return order.defined() ? order.gather(1, pick.unsqueeze(1)).squeeze(1) : pick;
}

}  // namespace grpo::rollout
