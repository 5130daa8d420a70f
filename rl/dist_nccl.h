// NCCL collectives for rl/dist on CUDA tensors: c10d's ProcessGroupNCCL over the job's store. Built only against a
// CUDA LibTorch (GRPO_HAS_NCCL); rl/dist.cpp is its only user. Not here: Gloo, the store, errors' wording.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>

#include <ATen/ATen.h>
#include <torch/csrc/distributed/c10d/Store.hpp>

namespace grpo::rl {

class NcclGroup {
 public:
  // One communicator per group, on CUDA device `device_index`, meeting through `store` (a prefix of the job's).
  NcclGroup(const c10::intrusive_ptr<c10d::Store>& store, int64_t rank, int64_t size, int64_t device_index,
            std::chrono::milliseconds timeout);
  ~NcclGroup();
  // In place, on one flat CUDA tensor; each returns when the result is on the device (the host waits for it).
  void all_reduce_sum(at::Tensor& flat);
  void broadcast(at::Tensor& flat, int64_t root);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace grpo::rl
