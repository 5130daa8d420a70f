// Processes working as one, on PyTorch's own distributed engine: c10d's TCPStore rendezvous and its Gloo process
// group (CPU tensors), set up from the environment torchrun and Slurm launchers export (RANK, WORLD_SIZE,
// LOCAL_RANK, MASTER_ADDR, MASTER_PORT). Collectives are bucketed into flat buffers and every wait has a deadline:
// a rank that dies or hangs ends the job with a message naming the collective, never a silent hang.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <ATen/ATen.h>

namespace grpo::rl {

struct DistEnv {
  int64_t rank = 0, world_size = 1, local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int64_t master_port = 29500;
  // From RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT; without WORLD_SIZE a single process. A malformed or
  // inconsistent value is an error naming the variable.
  static DistEnv from_environment();
  int64_t local_world_size = 1;  // ranks on this machine (LOCAL_WORLD_SIZE; they share its cores)
  bool distributed() const { return world_size > 1; }
};

class Dist {
 public:
  // Joins the group (rank 0 hosts the store at MASTER_PORT; under torchrun, whose agent holds that port, at
  // MASTER_PORT + 1); waits at most `timeout` for the others, and each collective too. With a CUDA `device` the
  // group also gets a NCCL communicator on it (a CUDA LibTorch only), which collectives of CUDA tensors use.
  Dist(const DistEnv& env, std::chrono::milliseconds timeout, at::Device device = at::kCPU);
  ~Dist();
  Dist(const Dist&) = delete;
  Dist& operator=(const Dist&) = delete;

  int64_t rank() const { return env_.rank; }  // within this group
  int64_t world_size() const { return env_.world_size; }
  bool is_main() const { return env_.rank == 0; }
  int64_t world_rank() const { return world_rank_; }  // the process's rank in the whole job (names it in errors)

  // The world ranks `members` (ascending, distinct) as a group of their own: its collectives involve them alone and
  // its ranks count 0.. in that order. Every member calls it with the same name and members (in the same order as
  // other subgroups); a non-member gets null and need not call.
  std::unique_ptr<Dist> subgroup(const std::string& name, const std::vector<int64_t>& members) const;

  // Messages through the store, for data that is not a tensor collective: `put` leaves bytes under key and returns at
  // once; `get` waits for the key up to the timeout (`what` names it in the error); `remove` deletes it.
  void put(const std::string& key, const std::string& bytes);
  std::string get(const std::string& key, const std::string& what);
  void remove(const std::string& key);

  // "nccl" when tensors on `device` go through NCCL, else "gloo".
  const char* backend(const at::Device& device) const;
  // In place: every tensor becomes the sum over ranks. Tensors of one dtype, all on the CPU (Gloo) or all on the
  // group's GPU (NCCL), packed into flat buckets of at most bucket_bytes each (one collective per bucket). `what` names
  // the collective in errors ("gradients").
  void all_reduce_sum(const std::vector<at::Tensor>& tensors, const std::string& what,
                      int64_t bucket_bytes = int64_t{25} << 20);
  // The sum over ranks of a few numbers (token counts, metric sums).
  std::vector<double> all_reduce_sum(const std::vector<double>& values, const std::string& what);
  // In place: every rank gets root's values.
  void broadcast(const std::vector<at::Tensor>& tensors, int64_t root, const std::string& what,
                 int64_t bucket_bytes = int64_t{25} << 20);
  void barrier(const std::string& what);
  // Every rank's `text` on rank 0 (in rank order), through the store; the other ranks get an empty list.
  std::vector<std::string> gather_to_main(const std::string& text, const std::string& what);

 private:
  struct Impl;
  Dist(const DistEnv& env, at::Device device, std::chrono::milliseconds timeout, std::unique_ptr<Impl> impl,
       int64_t world_rank, std::string name);
  std::string who() const;  // "rank 3" or "rank 3 (learners: 1 of 2)" in errors

  void collective(at::Tensor& flat, int64_t root, const std::string& what);  // root < 0: all-reduce; else broadcast
  // The NCCL communicator of a group on a CUDA device, meeting under the group's store.
  static void add_nccl(Impl* impl, const at::Device& device, int64_t rank, int64_t size,
                       std::chrono::milliseconds timeout);

  DistEnv env_;
  at::Device device_ = at::kCPU;
  int64_t world_rank_ = 0;
  std::string name_;  // the subgroup's name; empty for the world
  std::chrono::milliseconds timeout_;
  std::unique_ptr<Impl> impl_;
  int64_t gathers_ = 0;  // gather_to_main calls so far (the store keys' sequence number)
};

}  // namespace grpo::rl
