// A paged K/V cache for test rows, without the rollout's pool: row r owns blocks 1 + k * R + r (interleaved, so a
// wrong block table shows), block 0 is scratch.
#pragma once

#include <algorithm>
#include <vector>

#include "policy/transformer.h"

namespace grpo::test {

struct TestPages {
  policy::PagedKV kv;
  at::Tensor table;  // [R, nb] on the model's device
  TestPages(const policy::Transformer& m, int64_t rows, int64_t max_len, int64_t block_size) {
    const int64_t nb = (max_len + block_size - 1) / block_size;
    kv = policy::PagedKV::allocate(m->config, 1 + rows * nb, block_size, m->embed_tokens->weight.options());
    std::vector<int64_t> t(static_cast<size_t>(rows * nb));
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t k = 0; k < nb; ++k) t[static_cast<size_t>(r * nb + k)] = 1 + k * rows + r;
    }
    table = at::tensor(t, at::kLong).view({rows, nb}).to(m->embed_tokens->weight.device());
  }
  // Hidden states [R, n, C] of tokens [R, n] at positions q_pos [R, n], their K/V written to the pages.
  at::Tensor forward(policy::Transformer& m, const at::Tensor& tokens, const at::Tensor& q_pos) {
    const at::Device device = m->embed_tokens->weight.device();
    policy::PagedView view{&kv, table, q_pos.max().item<int64_t>() + 1};
    return m->forward_paged(tokens.to(device), q_pos.to(device), view);
  }
};

}  // namespace grpo::test
