// c10d process groups; see dist.h.
#include "rl/dist.h"

#include <signal.h>

#include <algorithm>
#include <cstdlib>

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "kernels/check.h"
#ifdef GRPO_HAS_NCCL
#include "rl/dist_nccl.h"
#endif

namespace grpo::rl {

namespace {

int64_t env_int(const char* name, int64_t fallback, int64_t min, int64_t max) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  const long long x = std::strtoll(v, &end, 10);
  GRPO_CHECK(end != v && *end == '\0' && x >= min && x <= max, "environment: ", name, "='", v,
             "' is not an integer in [", min, ", ", max, "]");
  return x;
}

}  // namespace

DistEnv DistEnv::from_environment() {
  DistEnv e;
  e.world_size = env_int("WORLD_SIZE", 1, 1, 1 << 20);
  e.rank = env_int("RANK", 0, 0, e.world_size - 1);
  e.local_rank = env_int("LOCAL_RANK", e.rank, 0, e.world_size - 1);
  if (const char* a = std::getenv("MASTER_ADDR"); a != nullptr && *a != '\0') e.master_addr = a;
  e.master_port = env_int("MASTER_PORT", 29500, 1, 65535);
  e.local_world_size = env_int("LOCAL_WORLD_SIZE", e.world_size, 1, e.world_size);
  GRPO_CHECK(e.world_size == 1 || std::getenv("RANK") != nullptr, "environment: WORLD_SIZE=", e.world_size,
             " without RANK; hint: start the ranks with torchrun or grpo launch, which set both");
  return e;
}

struct Dist::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg;
#ifdef GRPO_HAS_NCCL
  std::unique_ptr<NcclGroup> nccl;  // with a CUDA device
#endif
};

namespace {

// A Gloo group over `store`: the loopback for a one-machine job; otherwise the interface GLOO_SOCKET_IFNAME names,
// else this host's name.
c10::intrusive_ptr<c10d::ProcessGroupGloo> gloo_group(const c10::intrusive_ptr<c10d::Store>& store, int64_t rank,
                                                      int64_t size, const std::string& master_addr,
                                                      std::chrono::milliseconds timeout) {
  auto opts = c10d::ProcessGroupGloo::Options::create(timeout);
  const char* ifname = std::getenv("GLOO_SOCKET_IFNAME");
  if (ifname != nullptr && *ifname != '\0') {
    opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
  } else if (master_addr == "127.0.0.1" || master_addr == "localhost") {
    opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
  } else {
    opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
  }
  return c10::make_intrusive<c10d::ProcessGroupGloo>(store, static_cast<int>(rank), static_cast<int>(size), opts);
}

}  // namespace

Dist::Dist(const DistEnv& env, std::chrono::milliseconds timeout, at::Device device)
    : env_(env), device_(device), world_rank_(env.rank), timeout_(timeout), impl_(new Impl) {
  // NOTE: a write to a dead rank's socket raises SIGPIPE, which kills the process without a word; ignored (as Python,
  // and so PyTorch, does), the write fails and the collective reports it.
  ::signal(SIGPIPE, SIG_IGN);
  // NOTE: under torchrun its agent already hosts a store at MASTER_ADDR:MASTER_PORT, speaking the protocol of the
  // agent's PyTorch, which need not be this LibTorch's: the ranks then meet at their own store one port up.
  const char* agent = std::getenv("TORCHELASTIC_USE_AGENT_STORE");
  const bool agent_store = agent != nullptr && std::string(agent) == "True";
  c10d::TCPStoreOptions o;
  o.port = static_cast<std::uint16_t>(env.master_port + (agent_store ? 1 : 0));
  o.isServer = env.rank == 0;
  o.numWorkers = static_cast<std::size_t>(env.world_size);
  o.timeout = timeout;
  try {
    impl_->store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, o);
    impl_->pg = gloo_group(impl_->store, env.rank, env.world_size, env.master_addr, timeout);
    if (device.is_cuda()) add_nccl(impl_.get(), device, env.rank, env.world_size, timeout);
  } catch (const std::exception& e) {
    GRPO_FAIL("rank ", env.rank, " of ", env.world_size, ": cannot join the process group at ", env.master_addr, ":",
              env.master_port, " within ", timeout.count() / 1000.0, " s: ", e.what(),
              "; hint: are all ranks started, with the same MASTER_ADDR and MASTER_PORT?");
  }
}

Dist::Dist(const DistEnv& env, at::Device device, std::chrono::milliseconds timeout, std::unique_ptr<Impl> impl,
           int64_t world_rank, std::string name)
    : env_(env), device_(device), world_rank_(world_rank), name_(std::move(name)), timeout_(timeout),
      impl_(std::move(impl)) {}

std::unique_ptr<Dist> Dist::subgroup(const std::string& name, const std::vector<int64_t>& members) const {
  GRPO_CHECK(!members.empty() && std::is_sorted(members.begin(), members.end()) &&
                 std::adjacent_find(members.begin(), members.end()) == members.end() && members.front() >= 0 &&
                 members.back() < env_.world_size,
             "Dist::subgroup '", name, "': members must be distinct ranks in [0, ", env_.world_size, "), ascending");
  const auto it = std::find(members.begin(), members.end(), env_.rank);
  if (it == members.end()) return nullptr;
  DistEnv sub = env_;
  sub.rank = it - members.begin();
  sub.world_size = static_cast<int64_t>(members.size());
  auto impl = std::make_unique<Impl>();
  impl->store = c10::make_intrusive<c10d::PrefixStore>("group/" + name, impl_->store);
  try {
    impl->pg = gloo_group(impl->store, sub.rank, sub.world_size, env_.master_addr, timeout_);
    if (device_.is_cuda()) add_nccl(impl.get(), device_, sub.rank, sub.world_size, timeout_);
  } catch (const std::exception& e) {
    GRPO_FAIL(who(), ": cannot form the ", name, " group within ", timeout_.count() / 1000.0, " s: ", e.what());
  }
  return std::unique_ptr<Dist>(new Dist(sub, device_, timeout_, std::move(impl), world_rank_, name));
}

std::string Dist::who() const {
  if (name_.empty()) return "rank " + std::to_string(world_rank_);
  return "rank " + std::to_string(world_rank_) + " (" + name_ + " group: " + std::to_string(env_.rank) + " of " +
         std::to_string(env_.world_size) + ")";
}

void Dist::put(const std::string& key, const std::string& bytes) {
  try {
    impl_->store->set(key, std::vector<uint8_t>(bytes.begin(), bytes.end()));
  } catch (const std::exception& e) {
    GRPO_FAIL(who(), ": cannot post ", key, " to the store (rank 0, which hosts it, died?): ", e.what());
  }
}

std::string Dist::get(const std::string& key, const std::string& what) {
  try {
    std::vector<uint8_t> v = impl_->store->get(key);  // waits for the key, up to the store's timeout
    return std::string(v.begin(), v.end());
  } catch (const std::exception& e) {
    GRPO_FAIL(who(), ": waiting for ", what, " failed or timed out after ", timeout_.count() / 1000.0,
              " s (the rank that sends it died or hangs?): ", e.what());
  }
}

void Dist::remove(const std::string& key) {
  try {
    impl_->store->deleteKey(key);
  } catch (const std::exception& e) {
    GRPO_FAIL(who(), ": cannot delete ", key, " from the store: ", e.what());
  }
}

Dist::~Dist() = default;

void Dist::add_nccl(Impl* impl, const at::Device& device, int64_t rank, int64_t size,
                    std::chrono::milliseconds timeout) {
#ifdef GRPO_HAS_NCCL
  impl->nccl = std::make_unique<NcclGroup>(c10::make_intrusive<c10d::PrefixStore>("nccl", impl->store), rank, size,
                                           device.has_index() ? device.index() : 0, timeout);
#else
  GRPO_FAIL("ranks on ", device, ": this LibTorch has no CUDA, so no NCCL; hint: build against PyPI's CUDA LibTorch "
            "(CMAKE_PREFIX_PATH), or run on the CPU (Gloo)");
#endif
}

const char* Dist::backend(const at::Device& device) const {
  return device.is_cuda() && device_.is_cuda() ? "nccl" : "gloo";
}

void Dist::collective(at::Tensor& flat, int64_t root, const std::string& what) {
  const char* op = root < 0 ? "all-reduce" : "broadcast";
  try {
    if (flat.is_cuda()) {
#ifdef GRPO_HAS_NCCL
      GRPO_CHECK(impl_->nccl != nullptr, "CUDA tensors in a group made for the CPU");
      if (root < 0) {
        impl_->nccl->all_reduce_sum(flat);
      } else {
        impl_->nccl->broadcast(flat, root);
      }
      return;
#else
      GRPO_FAIL("CUDA tensors without NCCL");
#endif
    }
    std::vector<at::Tensor> v{flat};
    if (root < 0) {
      impl_->pg->allreduce(v)->wait(timeout_);
    } else {
      c10d::BroadcastOptions opts;
      opts.rootRank = root;
      impl_->pg->broadcast(v, opts)->wait(timeout_);
    }
  } catch (const std::exception& e) {
    GRPO_FAIL(who(), ": ", op, " of ", what, root >= 0 ? str(" from rank ", root) : std::string(),
              " failed or timed out after ", timeout_.count() / 1000.0, " s (another rank died or hangs?): ", e.what());
  }
}

namespace {

// Consecutive tensors grouped so that each group's bytes stay within the bucket (a larger tensor alone).
std::vector<std::vector<at::Tensor>> buckets(const std::vector<at::Tensor>& tensors, int64_t bucket_bytes) {
  std::vector<std::vector<at::Tensor>> out;
  int64_t bytes = 0;
  for (const auto& t : tensors) {
    const int64_t b = t.numel() * static_cast<int64_t>(t.element_size());
    if (out.empty() || (bytes + b > bucket_bytes && !out.back().empty())) {
      out.emplace_back();
      bytes = 0;
    }
    out.back().push_back(t);
    bytes += b;
  }
  return out;
}

at::Tensor flatten(const std::vector<at::Tensor>& ts) {
  std::vector<at::Tensor> flat;
  for (const auto& t : ts) flat.push_back(t.reshape({-1}));
  return at::cat(flat, 0);
}

void unflatten(const at::Tensor& flat, const std::vector<at::Tensor>& ts) {
  int64_t offset = 0;
  for (const auto& t : ts) {
    t.copy_(flat.narrow(0, offset, t.numel()).view(t.sizes()));
    offset += t.numel();
  }
}

}  // namespace

void Dist::all_reduce_sum(const std::vector<at::Tensor>& tensors, const std::string& what, int64_t bucket_bytes) {
  for (const auto& group : buckets(tensors, bucket_bytes)) {
    at::Tensor flat = flatten(group);
    collective(flat, -1, what);
    unflatten(flat, group);
  }
}

std::vector<double> Dist::all_reduce_sum(const std::vector<double>& values, const std::string& what) {
  at::Tensor t = at::tensor(values, at::kDouble);
  collective(t, -1, what);
  return std::vector<double>(t.data_ptr<double>(), t.data_ptr<double>() + t.numel());
}

void Dist::broadcast(const std::vector<at::Tensor>& tensors, int64_t root, const std::string& what,
                     int64_t bucket_bytes) {
  for (const auto& group : buckets(tensors, bucket_bytes)) {
    at::Tensor flat = flatten(group);
    collective(flat, root, what);
    if (env_.rank != root) unflatten(flat, group);
  }
}

void Dist::barrier(const std::string& what) {
  try {
    impl_->pg->barrier()->wait(timeout_);
  } catch (const std::exception& e) {
    GRPO_FAIL(who(), ": barrier (", what, ") failed or timed out after ", timeout_.count() / 1000.0,
              " s: ", e.what());
  }
}

std::vector<std::string> Dist::gather_to_main(const std::string& text, const std::string& what) {
  const std::string prefix = "gather/" + std::to_string(gathers_++) + "/";
  put(prefix + std::to_string(env_.rank), text);
  std::vector<std::string> out;
  if (env_.rank != 0) return out;
  for (int64_t r = 0; r < env_.world_size; ++r) {
    const std::string key = prefix + std::to_string(r);
    out.push_back(get(key, str(what, " from rank ", r)));
    remove(key);
  }
  return out;
}

}  // namespace grpo::rl
