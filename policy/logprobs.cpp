// Chunked token log-probs; see logprobs.h.
#include "policy/logprobs.h"

#include <vector>

#include <ATen/core/grad_mode.h>

#include "kernels/check.h"

namespace grpo::policy {

at::Tensor scaled_log_softmax(const at::Tensor& logits, double temperature) {
  GRPO_CHECK(temperature > 0, "temperature must be > 0, got ", temperature);
  at::Tensor z = logits.to(at::kFloat);
  if (temperature != 1.0) z = z / temperature;
  return at::log_softmax(z, -1);
}

TokenStats token_logprobs(const at::Tensor& hidden, const at::Tensor& weight, const at::Tensor& targets,
                          double temperature, bool with_entropy, int64_t chunk_rows) {
  GRPO_CHECK(hidden.dim() == 2 && targets.dim() == 1 && hidden.size(0) == targets.size(0),
             "token_logprobs expects hidden [M, C] and targets [M]");
  const int64_t M = hidden.size(0);
  std::vector<at::Tensor> lps, ents;
  for (int64_t start = 0; start < M || (M == 0 && start == 0); start += chunk_rows) {
    const int64_t n = std::min(chunk_rows, M - start);
    at::Tensor logp = scaled_log_softmax(at::linear(hidden.narrow(0, start, n), weight), temperature);  // [n, V]
    lps.push_back(logp.gather(1, targets.narrow(0, start, n).unsqueeze(1)).squeeze(1));
    if (with_entropy) {
      at::NoGradGuard no_grad;
      ents.push_back(-(logp.exp() * logp).sum(-1));
    }
    if (M == 0) break;
  }
  TokenStats out;
  out.logprobs = at::cat(lps, 0);
  if (with_entropy) out.entropy = at::cat(ents, 0);
  return out;
}

}  // namespace grpo::policy
