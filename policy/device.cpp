// Compute dtype, autocast, non-blocking host-to-device copies, model copies; see device.h.
#include "policy/device.h"

#include <ATen/autocast_mode.h>
#include <ATen/core/grad_mode.h>
#include <c10/core/impl/LocalDispatchKeySet.h>
#include <torch/version.h>

#include "kernels/check.h"

namespace grpo::policy {

at::ScalarType parse_compute_dtype(const std::string& name, const at::Device& device) {
  if (name == "auto") return device.is_cuda() ? at::kBFloat16 : at::kFloat;
  if (name == "float32" || name == "fp32") return at::kFloat;
  if (name == "bfloat16" || name == "bf16") return at::kBFloat16;
  GRPO_FAIL("run.dtype '", name, "' is not a compute dtype; hint: use \"auto\" (bfloat16 on CUDA, float32 on the "
            "CPU), \"float32\" or \"bfloat16\"");
}

// NOTE: LibTorch 2.4+ names autocast per device type; 1.13 (Debian) has one function per device.
namespace {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
bool autocast_enabled(at::DeviceType t) { return at::autocast::is_autocast_enabled(t); }
void set_autocast_enabled(at::DeviceType t, bool on) { at::autocast::set_autocast_enabled(t, on); }
at::ScalarType autocast_dtype(at::DeviceType t) { return at::autocast::get_autocast_dtype(t); }
void set_autocast_dtype(at::DeviceType t, at::ScalarType d) { at::autocast::set_autocast_dtype(t, d); }
#else
bool autocast_enabled(at::DeviceType t) {
  return t == at::kCUDA ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
}
void set_autocast_enabled(at::DeviceType t, bool on) {
  t == at::kCUDA ? at::autocast::set_enabled(on) : at::autocast::set_cpu_enabled(on);
}
at::ScalarType autocast_dtype(at::DeviceType t) {
  return t == at::kCUDA ? at::autocast::get_autocast_gpu_dtype() : at::autocast::get_autocast_cpu_dtype();
}
void set_autocast_dtype(at::DeviceType t, at::ScalarType d) {
  t == at::kCUDA ? at::autocast::set_autocast_gpu_dtype(d) : at::autocast::set_autocast_cpu_dtype(d);
}
#endif
}  // namespace

AutocastGuard::AutocastGuard(const at::Device& device, at::ScalarType dtype) : type_(device.type()) {
  if (dtype == at::kFloat) return;
  GRPO_CHECK(type_ == at::kCPU || type_ == at::kCUDA, "autocast runs on the CPU or CUDA, not on ", device);
  active_ = true;
  was_enabled_ = autocast_enabled(type_);
  was_dtype_ = autocast_dtype(type_);
  set_autocast_dtype(type_, dtype);
  set_autocast_enabled(type_, true);
  at::autocast::increment_nesting();
}

AutocastGuard::~AutocastGuard() {
  if (!active_) return;
  // Python's torch.autocast: leaving the outermost region drops the cached casts of the weights.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  set_autocast_enabled(type_, was_enabled_);
  set_autocast_dtype(type_, was_dtype_);
}

at::ScalarType autocast_dtype_now(const at::Device& device) {
  const at::DeviceType t = device.type();
  if ((t != at::kCPU && t != at::kCUDA) || !autocast_enabled(t)) return at::kFloat;
  return autocast_dtype(t);
}

struct NoAutocastGuard::Impl {
  c10::impl::ExcludeDispatchKeyGuard exclude{c10::autocast_dispatch_keyset};
};
NoAutocastGuard::NoAutocastGuard() : impl_(new Impl) {}
NoAutocastGuard::~NoAutocastGuard() { delete impl_; }

void to_compute_dtype(Transformer& model, at::ScalarType dtype) {
  at::NoGradGuard no_grad;
  for (auto& p : model->parameters()) {
    if (p.scalar_type() != dtype) p.set_data(p.to(dtype));
  }
}

at::Tensor to_device(const at::Tensor& host, const at::Device& device) {
  if (!device.is_cuda()) return host.to(device);
  // NOTE: the pinned block is returned to PyTorch's caching host allocator, which reuses it only after the copy
  // recorded on the stream has finished.
  return host.pin_memory().to(device, /*non_blocking=*/true);
}

at::Tensor to_device(const std::vector<int64_t>& values, const at::Device& device) {
  return to_device(at::tensor(values, at::kLong), device);
}

void allow_tf32(bool allow) {
  at::globalContext().setFloat32MatmulPrecision(allow ? "high" : "highest");
  at::globalContext().setAllowTF32CuDNN(allow);
}

void copy_weights(const Transformer& src, Transformer& dst) {
  at::NoGradGuard no_grad;
  auto from = src->named_parameters(), to = dst->named_parameters();
  GRPO_CHECK(from.size() == to.size(), "copy_weights: ", from.size(), " parameters into ", to.size());
  for (size_t i = 0; i < from.size(); ++i) {
    GRPO_CHECK(from[i].key() == to[i].key() && from[i].value().sizes() == to[i].value().sizes(),
               "copy_weights: ", from[i].key(), " does not match ", to[i].key());
    to[i].value().copy_(from[i].value());
  }
  auto bfrom = src->named_buffers(), bto = dst->named_buffers();
  GRPO_CHECK(bfrom.size() == bto.size(), "copy_weights: ", bfrom.size(), " buffers into ", bto.size());
  for (size_t i = 0; i < bfrom.size(); ++i) bto[i].value().copy_(bfrom[i].value());
}

Transformer copy_model(const Transformer& src, at::ScalarType dtype) {
  // NOTE: built uninitialised on the CPU (malloc'd pages never touched cost nothing), then moved and filled.
  Transformer dst(src->config, /*seed=*/0, /*init_weights=*/false);
  dst->set_output_vocab(src->output_vocab());
  dst->to(src->embed_tokens->weight.device());
  to_compute_dtype(dst, dtype);
  copy_weights(src, dst);
  return dst;
}

std::string dtype_name(at::ScalarType dtype) {
  if (dtype == at::kFloat) return "float32";
  if (dtype == at::kBFloat16) return "bfloat16";
  return c10::toString(dtype);
}

}  // namespace grpo::policy
