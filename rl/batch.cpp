// Right-padded packing of sequences; see batch.h.
#include "rl/batch.h"

#include <algorithm>

#include "kernels/check.h"

namespace grpo::rl {

TrainBatch pack_sequences(const std::vector<SequenceParts>& parts, int64_t pad_id, const at::Device& device) {
  GRPO_CHECK(!parts.empty(), "pack_sequences: no sequences");
  const int64_t N = static_cast<int64_t>(parts.size());
  int64_t T = 2;
  bool has_logprobs = true;
  for (const auto& p : parts) {
    T = std::max<int64_t>(T, static_cast<int64_t>(p.prompt->size() + p.completion->size()));
    has_logprobs = has_logprobs && p.logprobs != nullptr;
  }
  at::Tensor tokens = at::full({N, T}, pad_id, at::kLong);
  at::Tensor lengths = at::zeros({N}, at::kLong);
  at::Tensor mask = at::zeros({N, T - 1}, at::kFloat);
  at::Tensor adv = at::zeros({N}, at::kFloat);
  at::Tensor old = has_logprobs ? at::zeros({N, T - 1}, at::kFloat) : at::Tensor();
  auto tok_a = tokens.accessor<int64_t, 2>();
  auto mask_a = mask.accessor<float, 2>();
  auto len_a = lengths.accessor<int64_t, 1>();
  auto adv_a = adv.accessor<float, 1>();
  for (int64_t i = 0; i < N; ++i) {
    const SequenceParts& p = parts[static_cast<size_t>(i)];
    GRPO_CHECK(!p.prompt->empty(), "pack_sequences: sequence ", i, " has an empty prompt");
    const int64_t P = static_cast<int64_t>(p.prompt->size()), L = static_cast<int64_t>(p.completion->size());
    for (int64_t t = 0; t < P; ++t) tok_a[i][t] = (*p.prompt)[static_cast<size_t>(t)];
    for (int64_t t = 0; t < L; ++t) {
      tok_a[i][P + t] = (*p.completion)[static_cast<size_t>(t)];
      mask_a[i][P + t - 1] = 1.0f;  // position P+t-1 predicts completion token t
    }
    if (has_logprobs) {
      GRPO_CHECK(static_cast<int64_t>(p.logprobs->size()) == L, "pack_sequences: sequence ", i, " has ", L,
                 " tokens but ", p.logprobs->size(), " log-probs");
      auto old_a = old.accessor<float, 2>();
      for (int64_t t = 0; t < L; ++t) old_a[i][P + t - 1] = (*p.logprobs)[static_cast<size_t>(t)];
    }
    len_a[i] = P + L;
    adv_a[i] = p.advantage;
  }
  TrainBatch b;
  b.tokens = tokens.to(device);
  b.lengths = lengths.to(device);
  b.loss_mask = mask.to(device);
  b.advantages = adv.to(device);
  if (has_logprobs) b.old_logprobs = old.to(device);
  return b;
}

}  // namespace grpo::rl
