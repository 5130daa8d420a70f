// Checkpoint directory <-> Transformer weights; see weights.h.
#include "policy/weights.h"

#include <unistd.h>

#include <ATen/core/grad_mode.h>

#include <cstring>
#include <algorithm>
#include <filesystem>
#include <functional>
#include <fstream>
#include <map>
#include <regex>
#include <set>

#include <nlohmann/json.hpp>

#include "kernels/check.h"
#include "policy/safetensors.h"
#include "policy/tokenizer/char_tokenizer.h"
#include "policy/tokenizer/chat_template.h"
#include "policy/tokenizer/tokenizer_files.h"

namespace grpo::policy {

namespace fs = std::filesystem;

namespace {

at::ScalarType to_scalar_type(DType d, const std::string& name, const std::string& dir) {
  switch (d) {
    case DType::F32: return at::kFloat;
    case DType::BF16: return at::kBFloat16;
    case DType::F16: return at::kHalf;
    default:
      GRPO_FAIL(dir, ": tensor '", name, "' has dtype ", dtype_name(d),
                "; expected F32, BF16 or F16 (FP8 checkpoints: dequantise them to bf16 first)");
  }
}

DType to_dtype(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return DType::F32;
    case at::kBFloat16: return DType::BF16;
    case at::kHalf: return DType::F16;
    default: GRPO_FAIL("cannot save weights of dtype ", at::toString(t), "; use float32, bfloat16 or float16");
  }
}

// Tensors transformers skips when loading, so do we.
bool ignored_tensor(const std::string& name, const ModelConfig& cfg) {
  static const std::regex layer_re(R"(^model\.layers\.(\d+)\.)");
  std::smatch m;
  if (cfg.n_mtp_layers > 0 && std::regex_search(name, m, layer_re) && std::stoll(m[1].str()) >= cfg.n_layer)
    return true;  // DeepSeek-V3 multi-token prediction module
  const std::string suffix = "rotary_emb.inv_freq";
  return name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

at::ScalarType parse_model_dtype(const std::string& name, at::ScalarType fallback) {
  if (name == "auto") return fallback;
  if (name == "float32" || name == "f32" || name == "fp32") return at::kFloat;
  if (name == "bfloat16" || name == "bf16") return at::kBFloat16;
  if (name == "float16" || name == "f16" || name == "fp16") return at::kHalf;
  GRPO_FAIL("unknown dtype '", name, "'; use auto, float32, bfloat16 or float16");
}

const char* model_dtype_name(at::ScalarType dtype) {
  switch (dtype) {
    case at::kFloat: return "float32";
    case at::kBFloat16: return "bfloat16";
    case at::kHalf: return "float16";
    default: GRPO_FAIL("unsupported model dtype ", at::toString(dtype));
  }
}

at::ScalarType checkpoint_dtype(const std::string& dir) {
  SafetensorsCheckpoint ckpt = SafetensorsCheckpoint::open_dir(dir);
  std::map<DType, uint64_t> bytes;
  for (const auto& name : ckpt.names()) {
    const TensorInfo* t = ckpt.locate(name).second;
    if (t->dtype == DType::F32 || t->dtype == DType::BF16 || t->dtype == DType::F16) bytes[t->dtype] += t->nbytes();
  }
  GRPO_CHECK(!bytes.empty(), dir, ": no F32, BF16 or F16 tensors; hint: is this a model checkpoint?");
  DType best = bytes.begin()->first;
  for (const auto& [d, n] : bytes)
    if (n > bytes[best]) best = d;
  return to_scalar_type(best, "", dir);
}

void load_weights(Transformer& model, const std::string& dir) {
  SafetensorsCheckpoint ckpt = SafetensorsCheckpoint::open_dir(dir);
  std::set<std::string> unused;
  for (const auto& n : ckpt.names())
    if (!ignored_tensor(n, model->config)) unused.insert(n);
  at::NoGradGuard no_grad;
  auto load_one = [&](const std::string& name, at::Tensor& dst) {
    GRPO_CHECK(ckpt.contains(name), dir, ": tensor '", name, "' is missing; hint: was this checkpoint saved for a "
               "model with the same config.json?");
    auto [file, info] = ckpt.locate(name);
    std::vector<int64_t> want = dst.sizes().vec();
    GRPO_CHECK(info->shape == want, dir, ": tensor '", name, "' has shape ", at::IntArrayRef(info->shape),
               ", the model expects ", at::IntArrayRef(want));
    const at::ScalarType src_type = to_scalar_type(info->dtype, name, dir);
    if (dst.device().is_cpu() && dst.scalar_type() == src_type && dst.is_contiguous()) {
      file->read_into(*info, dst.data_ptr());  // same dtype: one pread straight into the parameter
    } else {
      // A view of the mapped bytes; copy_ converts the dtype and moves to the parameter's device in one pass.
      at::Tensor src = at::from_blob(const_cast<uint8_t*>(file->data(*info)), info->shape,
                                     at::TensorOptions().dtype(src_type));
      dst.copy_(src);
    }
    file->release(*info);
    unused.erase(name);
  };
  for (auto& p : model->named_parameters()) load_one(p.key(), p.value());
  for (auto& b : model->named_buffers()) load_one(b.key(), b.value());
  GRPO_CHECK(unused.empty(), dir, ": tensor '", *unused.begin(), "' does not belong to this model (",
             unused.size(), " unexpected); hint: check config.json against the weights");
}

Transformer load_model(const std::string& dir, const at::Device& device, at::ScalarType dtype) {
  ModelConfig cfg = read_model_config(dir + "/config.json");
  Transformer model(cfg, /*seed=*/0, /*init_weights=*/false);
  // Fresh (untouched) storage in the target dtype before loading, so a bf16 checkpoint never costs float32
  // memory for the whole model. NOTE: buffers (DeepSeek's router bias) stay float32, as in transformers.
  if (dtype != at::kFloat) {
    at::NoGradGuard no_grad;
    for (auto& p : model->parameters()) p.set_data(at::empty(p.sizes(), p.options().dtype(dtype)));
  }
  load_weights(model, dir);
  model->to(device);
  return model;
}

namespace {

// eos_token_id of a JSON file (a number or a list) appended to `out` without repeats; absent file or key: nothing.
void append_eos_ids(const fs::path& path, std::vector<int64_t>& out) {
  std::ifstream in(path);
  if (!in.good()) return;
  const nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  GRPO_CHECK(!j.is_discarded() && j.is_object(), path.string(), " is not a JSON object");
  auto it = j.find("eos_token_id");
  if (it == j.end() || it->is_null()) return;
  std::vector<nlohmann::json> ids = it->is_array() ? it->get<std::vector<nlohmann::json>>()
                                                   : std::vector<nlohmann::json>{*it};
  for (const auto& v : ids) {
    GRPO_CHECK(v.is_number_integer() && v.get<int64_t>() >= 0, path.string(), ": eos_token_id must hold "
               "non-negative integers, got ", v.dump());
    if (std::find(out.begin(), out.end(), v.get<int64_t>()) == out.end()) out.push_back(v.get<int64_t>());
  }
}

}  // namespace

std::vector<int64_t> read_eos_ids(const std::string& dir) {
  std::vector<int64_t> ids;
  append_eos_ids(fs::path(dir) / "generation_config.json", ids);
  append_eos_ids(fs::path(dir) / "config.json", ids);
  return ids;
}

Policy load_policy(const std::string& dir, const at::Device& device) {
  std::error_code ec;
  GRPO_CHECK(fs::is_directory(dir, ec), "model directory ", dir, " does not exist; hint: model.path names a Hugging "
             "Face checkpoint directory (config.json, *.safetensors, tokenizer files)");
  Policy p;
  p.config = read_model_config(dir + "/config.json");
  p.tokenizer = load_tokenizer(dir);
  GRPO_CHECK(p.tokenizer->vocab_size() <= p.config.n_vocab, dir, ": the tokenizer has ", p.tokenizer->vocab_size(),
             " tokens but config.json vocab_size is ", p.config.n_vocab);
  p.eos_ids = read_eos_ids(dir);
  const int64_t tok_eos = p.tokenizer->eos_id();
  if (tok_eos >= 0 && std::find(p.eos_ids.begin(), p.eos_ids.end(), tok_eos) == p.eos_ids.end())
    p.eos_ids.push_back(tok_eos);
  GRPO_CHECK(!p.eos_ids.empty(), dir, ": no EOS token (generation_config.json, config.json and the tokenizer name "
             "none); hint: add \"eos_token_id\" to generation_config.json");
  for (int64_t id : p.eos_ids) {
    GRPO_CHECK(id < p.tokenizer->vocab_size(), dir, ": eos_token_id ", id, " is outside the tokenizer's ",
               p.tokenizer->vocab_size(), " tokens");
  }
  p.chat_template_text = read_chat_template_text(dir);
  p.source_dir = dir;
  p.model = load_model(dir, device, at::kFloat);
  p.model->set_output_vocab(p.tokenizer->vocab_size());
  return p;
}

void save_model(const Transformer& model, const Tokenizer* tokenizer, const std::string& dir,
                uint64_t max_shard_bytes) {
  const at::ScalarType dtype = model->embed_tokens->weight.scalar_type();
  {
    std::string path = dir + "/config.json";
    std::ofstream out(path);
    out << model_config_to_json(model->config, model_dtype_name(dtype));
    GRPO_CHECK(out.good(), "cannot write ", path, "; hint: check free disk space and permissions");
  }
  std::vector<at::Tensor> keep;  // CPU contiguous copies alive until written
  std::vector<TensorView> views;
  auto add = [&](const std::string& name, const at::Tensor& value) {
    at::Tensor t = value.detach().to(at::kCPU).contiguous();
    keep.push_back(t);
    views.push_back({name, to_dtype(t.scalar_type()), t.sizes().vec(), t.data_ptr(), static_cast<uint64_t>(t.nbytes())});
  };
  for (const auto& p : model->named_parameters()) add(p.key(), p.value());
  for (const auto& b : model->named_buffers()) add(b.key(), b.value());
  write_safetensors_dir(dir, views, max_shard_bytes);
  if (tokenizer != nullptr) tokenizer->save(dir);
}

void save_policy(const Transformer& model, const Tokenizer& tokenizer, const std::string& dir) {
  save_model(model, &tokenizer, dir);
}

namespace {

// Copies the side files (kSideFiles) found in `from` into `to`, keeping any `to` already has.
void copy_side_files(const std::string& from, const std::string& to) {
  if (from.empty()) return;
  std::error_code ec;
  for (const auto& f : kSideFiles) {
    const fs::path src = fs::path(from) / f, dst = fs::path(to) / f;
    if (fs::is_regular_file(src, ec) && !fs::exists(dst, ec)) fs::copy_file(src, dst);
  }
}

}  // namespace

void save_policy(const Policy& p, const std::string& dir, uint64_t max_shard_bytes) {
  save_model(p.model, p.tokenizer.get(), dir, max_shard_bytes);
  std::error_code ec;
  copy_side_files(p.source_dir, dir);
  if (!p.chat_template_text.empty() && read_chat_template_text(dir).empty()) {
    // A template with no file of its own (a GGUF's tokenizer.chat_template): into tokenizer_config.json, where
    // transformers and read_chat_template_text look first.
    const fs::path path = fs::path(dir) / "tokenizer_config.json";
    nlohmann::json cfg = nlohmann::json::object();
    if (fs::exists(path, ec)) cfg = nlohmann::json::parse(read_text_file(path.string()));
    cfg["chat_template"] = p.chat_template_text;
    write_text_file(path.string(), cfg.dump(2));
  }
  if (!fs::exists(fs::path(dir) / "generation_config.json", ec)) {
    nlohmann::json g = {{"_from_model_config", true}};
    if (p.config.bos_token_id >= 0) g["bos_token_id"] = p.config.bos_token_id;
    if (p.eos_ids.size() == 1) g["eos_token_id"] = p.eos_ids[0];
    if (p.eos_ids.size() > 1) g["eos_token_id"] = p.eos_ids;
    if (p.config.pad_token_id >= 0) g["pad_token_id"] = p.config.pad_token_id;
    std::ofstream out(fs::path(dir) / "generation_config.json");
    out << g.dump(2) << "\n";
    GRPO_CHECK(out.good(), "cannot write ", dir, "/generation_config.json; hint: check free disk space");
  }
}

const std::vector<std::string> kSideFiles = {
    "tokenizer.json",      "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
    "vocab.json",          "merges.txt",            "tokenizer.model",         "chat_template.jinja",
    "chat_template.json",  "generation_config.json"};

namespace {

// Writes a directory through `write(tmp)` into a fresh sibling temporary directory, then renames it to `dir`
// (which must not exist): a crash leaves either no `dir` or a complete one.
void write_dir_atomic(const std::string& dir, const std::function<void(const std::string&)>& write) {
  std::error_code ec;
  const fs::path final_dir = fs::path(dir).lexically_normal();
  GRPO_CHECK(!fs::exists(final_dir, ec), dir, " already exists; hint: choose a new output directory");
  const fs::path parent = final_dir.has_parent_path() ? final_dir.parent_path() : fs::path(".");
  GRPO_CHECK(fs::is_directory(parent, ec), "cannot write ", dir, ": its parent directory ", parent.string(),
             " does not exist");
  const fs::path tmp = parent / ("." + final_dir.filename().string() + ".tmp-" + std::to_string(::getpid()));
  fs::remove_all(tmp, ec);
  fs::create_directory(tmp);
  try {
    write(tmp.string());
    fs::rename(tmp, final_dir);
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
}

}  // namespace

void save_model_atomic(const Transformer& model, const Tokenizer* tokenizer, const std::string& dir,
                       uint64_t max_shard_bytes, const std::string& side_files_from) {
  write_dir_atomic(dir, [&](const std::string& tmp) {
    save_model(model, tokenizer, tmp, max_shard_bytes);
    copy_side_files(side_files_from, tmp);
  });
}

void save_policy_atomic(const Policy& p, const std::string& dir, uint64_t max_shard_bytes) {
  write_dir_atomic(dir, [&](const std::string& tmp) { save_policy(p, tmp, max_shard_bytes); });
}

Policy new_policy(const std::string& preset, const std::string& tokenizer, uint64_t seed) {
  Policy p;
  if (tokenizer == "char") {
    p.tokenizer = std::make_shared<CharTokenizer>();
  } else {
    p.tokenizer = load_tokenizer(tokenizer);
    std::error_code ec;
    if (fs::is_directory(tokenizer, ec)) {
      p.eos_ids = read_eos_ids(tokenizer);
      p.chat_template_text = read_chat_template_text(tokenizer);
      p.source_dir = tokenizer;  // its chat template and generation_config.json travel with the checkpoints
    }
  }
  const int64_t eos = p.tokenizer->eos_id();
  if (eos >= 0 && std::find(p.eos_ids.begin(), p.eos_ids.end(), eos) == p.eos_ids.end()) p.eos_ids.push_back(eos);
  GRPO_CHECK(!p.eos_ids.empty(), "tokenizer ", tokenizer, " has no EOS token; hint: use a tokenizer with an eos_token");
  if (preset.size() > 5 && preset.compare(preset.size() - 5, 5, ".json") == 0) {
    // A Hugging Face config.json: any shape (a full-size model to benchmark), its vocabulary at least the tokenizer's.
    p.config = read_model_config(preset);
    GRPO_CHECK(p.config.n_vocab >= p.tokenizer->vocab_size(), preset, ": vocab_size ", p.config.n_vocab,
               " is smaller than the tokenizer's ", p.tokenizer->vocab_size(), " tokens; hint: raise vocab_size");
  } else {
    p.config = model_preset(preset, p.tokenizer->vocab_size());
  }
  p.config.eos_token_id = p.eos_ids.front();
  p.config.bos_token_id = p.tokenizer->bos_id();
  p.config.pad_token_id = p.tokenizer->pad_id();
  if (!p.config.source_json.empty()) {
    // Presets built from config.json text: the token ids go into it too, so the saved config.json has them.
    nlohmann::json j = nlohmann::json::parse(p.config.source_json);
    j["eos_token_id"] = p.config.eos_token_id;
    j["bos_token_id"] = p.config.bos_token_id >= 0 ? nlohmann::json(p.config.bos_token_id) : nlohmann::json(nullptr);
    j["pad_token_id"] = p.config.pad_token_id >= 0 ? nlohmann::json(p.config.pad_token_id) : nlohmann::json(nullptr);
    p.config.source_json = j.dump(2);
  }
  p.model = Transformer(p.config, seed);
  p.model->set_output_vocab(p.tokenizer->vocab_size());
  return p;
}

}  // namespace grpo::policy
