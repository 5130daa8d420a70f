// Right-padded packing of sequences; see batch.h.
#include "rl/batch.h"

#include <algorithm>

#include "kernels/check.h"

namespace grpo::rl {

TrainBatch pack_sequences(const std::vector<SequenceParts>& parts, int64_t pad_id, const at::Device& device) {
  GRPO_CHECK(!parts.empty(), "pack_sequences: no sequences");
  const int64_t N = static_cast<int64_t>(parts.size());
  int64_t T = 2;
  bool has_logprobs = true, has_routing = true;
  int64_t route_width = -1;  // MoE layers x K
  for (const auto& p : parts) {
    T = std::max<int64_t>(T, static_cast<int64_t>(p.prompt->size() + p.completion->size()));
    has_logprobs = has_logprobs && p.logprobs != nullptr;
    has_routing = has_routing && p.routing != nullptr && !p.routing->empty();
    if (has_routing) {
      for (const auto& r : *p.routing) {
        GRPO_CHECK(route_width < 0 || static_cast<int64_t>(r.size()) == route_width,
                   "pack_sequences: routing records of different widths");
        route_width = static_cast<int64_t>(r.size());
      }
    }
  }
  // [N, T, layers*K], -1 = free; position P+t-1 (the input that produced completion token t) gets routing[t].
  at::Tensor routes = has_routing ? at::full({N, T, route_width}, -1, at::kLong) : at::Tensor();
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
    if (has_routing) {
      GRPO_CHECK(static_cast<int64_t>(p.routing->size()) == L, "pack_sequences: sequence ", i, " has ", L,
                 " tokens but routing for ", p.routing->size());
      auto r_a = routes.accessor<int64_t, 3>();
      for (int64_t t = 0; t < L; ++t) {
        const auto& r = (*p.routing)[static_cast<size_t>(t)];
        for (int64_t k = 0; k < route_width; ++k) r_a[i][P + t - 1][k] = r[static_cast<size_t>(k)];
      }
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
  if (has_routing) b.routes = routes.to(device);
  return b;
}

TrainBatch empty_batch(const at::Device& device) {
  TrainBatch b;
  b.tokens = at::zeros({0, 2}, at::TensorOptions(at::kLong).device(device));
  b.lengths = at::zeros({0}, at::TensorOptions(at::kLong).device(device));
  b.loss_mask = at::zeros({0, 1}, at::TensorOptions(at::kFloat).device(device));
  b.advantages = at::zeros({0}, at::TensorOptions(at::kFloat).device(device));
  b.old_logprobs = at::zeros({0, 1}, at::TensorOptions(at::kFloat).device(device));
  return b;
}

}  // namespace grpo::rl
