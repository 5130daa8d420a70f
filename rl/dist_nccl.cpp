// ProcessGroupNCCL behind rl/dist; see dist_nccl.h.
#include "rl/dist_nccl.h"

#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>

namespace grpo::rl {

struct NcclGroup::Impl {
  c10::intrusive_ptr<c10d::ProcessGroupNCCL> pg;
  int64_t device_index = 0;
  std::chrono::milliseconds timeout;
};

NcclGroup::NcclGroup(const c10::intrusive_ptr<c10d::Store>& store, int64_t rank, int64_t size, int64_t device_index,
                     std::chrono::milliseconds timeout)
    : impl_(new Impl) {
  auto opts = c10d::ProcessGroupNCCL::Options::create();
  opts->timeout = timeout;
  impl_->device_index = device_index;
  impl_->timeout = timeout;
  // The process's current device becomes the group's: its one GPU, where NCCL's streams and the syncs below live.
  c10::cuda::set_device(static_cast<c10::DeviceIndex>(device_index));
  impl_->pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, static_cast<int>(rank), static_cast<int>(size), opts);
}

NcclGroup::~NcclGroup() = default;

namespace {

// NOTE: a NCCL work's wait() only orders the current stream after the collective; the host then waits for the
// device, so the timeout bounds the call and the caller may read the result on any stream.
void finish(const c10::intrusive_ptr<c10d::Work>& work, std::chrono::milliseconds timeout) {
  work->wait(timeout);
  c10::cuda::device_synchronize();
}

}  // namespace

void NcclGroup::all_reduce_sum(at::Tensor& flat) {
  c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(impl_->device_index));
  std::vector<at::Tensor> v{flat};
  finish(impl_->pg->allreduce(v), impl_->timeout);
}

void NcclGroup::broadcast(at::Tensor& flat, int64_t root) {
  c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(impl_->device_index));
  std::vector<at::Tensor> v{flat};
  c10d::BroadcastOptions opts;
  opts.rootRank = root;
  finish(impl_->pg->broadcast(v, opts), impl_->timeout);
}

}  // namespace grpo::rl
