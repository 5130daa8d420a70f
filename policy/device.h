// Where and in what precision the model computes: the compute dtype (float32, or bfloat16 over float32 master
// weights), the autocast region the learner's forwards run in, host-to-device copies that do not stall the host,
// TF32 for float32 matmuls on CUDA, and a copy of a model in another dtype (the rollout's bf16 weights).
// Nothing here knows a stage; the trainer decides, the rollout and the learner are told.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "policy/transformer.h"

namespace grpo::policy {

// run.dtype: "auto" (bfloat16 on CUDA, float32 on the CPU), "float32"/"fp32", "bfloat16"/"bf16".
at::ScalarType parse_compute_dtype(const std::string& name, const at::Device& device);

// Inside, floating-point ops on `device`'s type run in `dtype` where autocast allows (matmuls, linear), the rest
// in float32, as torch.autocast does; outside, as before. Float32 is no autocast at all. Thread-local. The casts
// of the weights are cached only inside the outermost guard (an optimiser step between two guards is seen).
class AutocastGuard {
 public:
  AutocastGuard(const at::Device& device, at::ScalarType dtype);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  at::DeviceType type_ = at::kCPU;
  bool active_ = false, was_enabled_ = false;
  at::ScalarType was_dtype_ = at::kFloat;
};

// The dtype matmuls on `device` run in right now: the autocast dtype inside an AutocastGuard, else float32. Lets an
// op that does its own arithmetic (the chunked log-probs) compute as autocast would, also when autograd recomputes.
at::ScalarType autocast_dtype_now(const at::Device& device);

// Inside, autocast is off whatever guard is around it: math that must stay in float32 (DeepSeek's sigmoid router).
class NoAutocastGuard {
 public:
  NoAutocastGuard();
  ~NoAutocastGuard();
  NoAutocastGuard(const NoAutocastGuard&) = delete;
  NoAutocastGuard& operator=(const NoAutocastGuard&) = delete;

 private:
  struct Impl;
  Impl* impl_;
};

// The model's parameters in `dtype`, its buffers (DeepSeek-V3's router score bias) left in float32, as transformers
// keeps them: what the rollout generates with, and what evaluation loads.
void to_compute_dtype(Transformer& model, at::ScalarType dtype);

// A host tensor on `device`. To CUDA it goes through pinned memory, asynchronously on the current stream: the host
// does not wait (a plain copy from pageable memory synchronises the stream). On the CPU it is returned as is.
at::Tensor to_device(const at::Tensor& host, const at::Device& device);
at::Tensor to_device(const std::vector<int64_t>& values, const at::Device& device);

// TF32 tensor cores for float32 matmuls and convolutions on CUDA (about 10 bits of mantissa in products).
void allow_tf32(bool allow);

// A model with src's config, output vocabulary and weights, its parameters in `dtype` (buffers as src's) on src's
// device: the rollout's low-precision copy. copy_weights refreshes it (or any model of the same config) from src, converting the dtype.
Transformer copy_model(const Transformer& src, at::ScalarType dtype);
void copy_weights(const Transformer& src, Transformer& dst);

// "float32", "bfloat16", ... for logs and errors.
std::string dtype_name(at::ScalarType dtype);

}  // namespace grpo::policy
