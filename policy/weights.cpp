// Checkpoint directory <-> Transformer weights; see weights.h.
#include "policy/weights.h"

#include <fstream>
#include <set>

#include "kernels/check.h"
#include "policy/safetensors.h"

namespace grpo::policy {

namespace {

at::ScalarType to_scalar_type(DType d, const std::string& name, const std::string& dir) {
  switch (d) {
    case DType::F32: return at::kFloat;
    case DType::BF16: return at::kBFloat16;
    case DType::F16: return at::kHalf;
    default: GRPO_FAIL(dir, ": tensor '", name, "' has dtype ", dtype_name(d), "; expected F32, BF16 or F16");
  }
}

}  // namespace

void load_weights(Transformer& model, const std::string& dir) {
  SafetensorsCheckpoint ckpt = SafetensorsCheckpoint::open_dir(dir);
  std::set<std::string> unused;
  for (const auto& n : ckpt.names()) unused.insert(n);
  at::NoGradGuard no_grad;
  for (auto& p : model->named_parameters()) {
    const std::string& name = p.key();
    GRPO_CHECK(ckpt.contains(name), dir, ": tensor '", name, "' is missing; hint: was this checkpoint saved for a "
               "model with the same config.json?");
    auto [file, info] = ckpt.locate(name);
    std::vector<int64_t> want = p.value().sizes().vec();
    GRPO_CHECK(info->shape == want, dir, ": tensor '", name, "' has shape ", at::IntArrayRef(info->shape),
               ", the model expects ", at::IntArrayRef(want));
    at::Tensor src = at::from_blob(const_cast<uint8_t*>(file->data(*info)), info->shape,
                                   at::TensorOptions().dtype(to_scalar_type(info->dtype, name, dir)));
    p.value().copy_(src);
    unused.erase(name);
  }
  GRPO_CHECK(unused.empty(), dir, ": tensor '", *unused.begin(), "' does not belong to this model (",
             unused.size(), " unexpected); hint: check config.json against the weights");
}

Policy load_policy(const std::string& dir, const at::Device& device) {
  Policy p;
  p.config = read_model_config(dir + "/config.json");
  p.tokenizer = load_tokenizer(dir);
  GRPO_CHECK(p.tokenizer->vocab_size() <= p.config.n_vocab, dir, ": the tokenizer has ", p.tokenizer->vocab_size(),
             " tokens but config.json vocab_size is ", p.config.n_vocab);
  p.model = Transformer(p.config, /*seed=*/0);
  load_weights(p.model, dir);
  p.model->to(device);
  return p;
}

void save_policy(const Transformer& model, const Tokenizer& tokenizer, const std::string& dir) {
  {
    std::string path = dir + "/config.json";
    std::ofstream out(path);
    out << model_config_to_json(model->config);
    GRPO_CHECK(out.good(), "cannot write ", path, "; hint: check free disk space and permissions");
  }
  std::vector<at::Tensor> keep;  // CPU float32 copies alive until written
  std::vector<TensorView> views;
  for (const auto& p : model->named_parameters()) {
    at::Tensor t = p.value().detach().to(at::kCPU, at::kFloat).contiguous();
    keep.push_back(t);
    views.push_back({p.key(), DType::F32, t.sizes().vec(), t.data_ptr(), static_cast<uint64_t>(t.nbytes())});
  }
  write_safetensors_dir(dir, views);
  tokenizer.save(dir);
}

}  // namespace grpo::policy
