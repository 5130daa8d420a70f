// grpo info / grpo convert; see model_tools.h.
#include "recipes/model_tools.h"

#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <algorithm>
#include <map>
#include <string>

#include "kernels/check.h"
#include "recipes/cli_args.h"
#include "policy/gguf_convert.h"
#include "policy/safetensors.h"
#include "policy/transformer.h"
#include "policy/weights.h"

namespace grpo::recipes {

namespace fs = std::filesystem;
using namespace grpo::policy;

namespace {

std::string with_commas(int64_t n) {
  std::string s = std::to_string(n), out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i > 0 && (s.size() - i) % 3 == 0) out += ',';
    out += s[i];
  }
  return out;
}

double peak_rss_gb() {
  struct rusage ru {};
  ::getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1048576.0;  // KiB -> GiB
}

const char* router_name(const ModelConfig& c) {
  switch (c.topk_method) {
    case TopkMethod::Greedy: return c.router_score == RouterScore::Sigmoid ? "sigmoid top-k" : "softmax top-k";
    case TopkMethod::GroupMax: return "softmax, group-limited greedy";
    case TopkMethod::GroupTop2Bias: return "sigmoid + score bias, group-limited (noaux_tc)";
  }
  return "?";
}

// The safetensors headers against the tensors the model built from config.json has (names and shapes; no weight
// is read): a missing tensor or a wrong shape stops naming the first one, as loading would.
void check_tensor_names(const ModelConfig& c, const SafetensorsCheckpoint& ckpt, const std::string& dir) {
  const std::vector<TensorShape> want = model_tensor_shapes(c);
  std::string first_missing;
  int64_t missing = 0;
  for (const auto& t : want) {
    if (!ckpt.contains(t.name)) {
      if (missing++ == 0) first_missing = t.name;
      continue;
    }
    const TensorInfo* info = ckpt.locate(t.name).second;
    GRPO_CHECK(info->shape == t.shape, dir, ": tensor '", t.name, "' has shape ", at::IntArrayRef(info->shape),
               " but config.json makes it ", at::IntArrayRef(t.shape), "; hint: is config.json this checkpoint's?");
  }
  GRPO_CHECK(missing == 0, dir, ": tensor '", first_missing, "' is missing (", missing, " of the ", want.size(),
             " tensors ", c.model_type, " needs are missing); hint: are all shards there, and is config.json this "
             "checkpoint's?");
}

}  // namespace

int run_info(int argc, char** argv) {
  const char* usage = "grpo info --model DIR [--load [--dtype auto|float32|bfloat16|float16]]";
  Args a = parse_args(argc, argv, "info", {"--model", "--dtype"}, {"--load"}, usage);
  GRPO_CHECK(a.has("--model"), "grpo info: --model DIR is required; usage: ", usage);
  const std::string dir = a.get("--model");
  GRPO_CHECK(fs::is_directory(dir), "grpo info: ", dir, " is not a directory; hint: pass a checkpoint directory");
  ModelConfig c = read_model_config(dir + "/config.json");
  SafetensorsCheckpoint ckpt = SafetensorsCheckpoint::open_dir(dir);
  check_tensor_names(c, ckpt, dir);

  std::map<std::string, int64_t> dtype_tensors;
  uint64_t bytes = 0;
  std::map<const SafetensorsFile*, int> files;
  for (const auto& name : ckpt.names()) {
    auto [file, t] = ckpt.locate(name);
    ++dtype_tensors[dtype_name(t->dtype)];
    bytes += t->nbytes();
    files[file] = 1;
  }
  int64_t moe_layers = 0;
  for (int64_t i = 0; i < c.n_layer; ++i) moe_layers += c.is_moe_layer(i);

  std::printf("model: %s\n", dir.c_str());
  std::printf("architecture: %s\n", c.model_type.c_str());
  std::printf("parameters: %s total, %s active per token\n", with_commas(c.n_params()).c_str(),
              with_commas(c.n_active_params()).c_str());
  std::printf("layers: %lld (%lld MoE, %lld dense), hidden %lld, vocab %lld%s\n", (long long)c.n_layer,
              (long long)moe_layers, (long long)(c.n_layer - moe_layers), (long long)c.n_embd, (long long)c.n_vocab,
              c.tie_word_embeddings ? ", tied embeddings" : "");
  if (c.mla()) {
    std::printf("attention: MLA, %lld heads, q_lora_rank %lld, kv_lora_rank %lld, qk %lld+%lld, v %lld\n",
                (long long)c.n_head, (long long)c.q_lora_rank, (long long)c.kv_lora_rank,
                (long long)c.qk_nope_head_dim, (long long)c.qk_rope_head_dim, (long long)c.v_head_dim);
  } else {
    std::printf("attention: %lld heads, %lld kv heads, head_dim %lld%s%s\n", (long long)c.n_head,
                (long long)c.n_kv_head, (long long)c.head_dim,
                c.qk_norm == QKNorm::PerHead ? ", per-head q/k norm" : c.qk_norm == QKNorm::Full ? ", q/k norm" : "",
                c.qkv_bias ? ", qkv bias" : "");
  }
  std::printf("rope: theta %g, %s%s\n", c.rope.theta, c.rope.type.c_str(), c.rope.interleaved ? ", interleaved" : "");
  if (c.n_expert > 0) {
    std::printf("experts: %lld routed (top-%lld, %s), width %lld", (long long)c.n_expert, (long long)c.n_expert_used,
                router_name(c), (long long)c.n_ff_expert);
    if (c.n_shared_expert > 0) std::printf(", %lld shared", (long long)c.n_shared_expert);
    std::printf("\n");
  } else {
    std::printf("experts: none (dense)\n");
  }
  std::printf("dtype:");
  for (const auto& [d, n] : dtype_tensors) std::printf(" %s (%lld tensors)", d.c_str(), (long long)n);
  std::printf("\nweights: %zu file%s, %.1f MB\n", files.size(), files.size() == 1 ? "" : "s", bytes / 1e6);
  std::string found;
  for (const auto& f : kSideFiles)
    if (f != "generation_config.json" && fs::is_regular_file(fs::path(dir) / f)) found += (found.empty() ? "" : ", ") + f;
  std::printf("tokenizer files: %s\n", found.empty() ? "none found" : found.c_str());

  if (a.has("--load")) {
    const at::ScalarType dtype = parse_model_dtype(a.get("--dtype", "auto"), checkpoint_dtype(dir));
    const auto t0 = std::chrono::steady_clock::now();
    Transformer m = load_model(dir, at::kCPU, dtype);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("loaded: %s in %.2f s (%.2f GB/s), peak RSS %.2f GB\n", model_dtype_name(dtype), secs,
                bytes / 1e9 / secs, peak_rss_gb());
  }
  return 0;
}

int run_convert(int argc, char** argv) {
  const char* usage =
      "grpo convert --model DIR|FILE.gguf --out NEW_DIR [--dtype auto|float32|bfloat16|float16] [--shard-mb N]";
  const char* details =
      "Rewrites a Hugging Face checkpoint directory (dtype auto: the checkpoint's), or turns a llama.cpp GGUF file\n"
      "(general.architecture llama; tensors F32, F16, BF16, Q8_0, Q4_0, Q4_1) into one: config.json from its\n"
      "metadata, the weights dequantized (dtype auto: float32, which holds them exactly), tokenizer.json and\n"
      "tokenizer_config.json with the chat template from its vocabulary, generation_config.json.\n";
  Args a = parse_args(argc, argv, "convert", {"--model", "--out", "--dtype", "--shard-mb"}, {}, usage, details);
  GRPO_CHECK(a.has("--model") && a.has("--out"), "grpo convert: --model and --out are required; usage: ", usage);
  const std::string src = a.get("--model"), dst = a.get("--out");
  double shard_mb = 5000;
  try {
    shard_mb = std::stod(a.get("--shard-mb", "5000"));
  } catch (const std::exception&) {
    GRPO_FAIL("grpo convert: --shard-mb expects a number, got '", a.get("--shard-mb"), "'");
  }
  GRPO_CHECK(shard_mb > 0, "grpo convert: --shard-mb must be > 0, got ", shard_mb);
  std::error_code ec;
  if (fs::is_regular_file(src, ec)) {
    GRPO_CHECK(src.size() > 5 && src.compare(src.size() - 5, 5, ".gguf") == 0, "grpo convert: ", src,
               " is a file but not a .gguf; hint: pass a checkpoint directory or a GGUF file");
    const at::ScalarType dtype = parse_model_dtype(a.get("--dtype", "auto"), at::kFloat);
    Policy p = policy_from_gguf(src, dtype);
    save_policy_atomic(p, dst, static_cast<uint64_t>(shard_mb * 1e6));
    std::printf("wrote %s (%s from GGUF, %s, %s parameters, tokenizer: %s)\n", dst.c_str(),
                p.config.model_type.c_str(), model_dtype_name(dtype), with_commas(p.config.n_params()).c_str(),
                p.tokenizer->describe().c_str());
    return 0;
  }
  const at::ScalarType dtype = parse_model_dtype(a.get("--dtype", "auto"), checkpoint_dtype(src));
  Transformer m = load_model(src, at::kCPU, dtype);
  save_model_atomic(m, nullptr, dst, static_cast<uint64_t>(shard_mb * 1e6), src);
  std::printf("wrote %s (%s, %s)\n", dst.c_str(), m->config.model_type.c_str(), model_dtype_name(dtype));
  return 0;
}

int run_init(int argc, char** argv) {
  const char* usage = "grpo init --preset tiny-qwen2|tiny-qwen3|tiny-qwen3-moe|tiny-llama|tiny-moe|test-moe|CONFIG.json "
                      "--tokenizer PATH|char --out NEW_DIR [--seed S] [--dtype float32|bfloat16]";
  const char* details =
      "A randomly initialised Hugging Face checkpoint of a preset shape, sized to the tokenizer's vocabulary, with the\n"
      "tokenizer's files, chat template and generation_config.json: for smoke runs of a recipe on a real tokenizer.\n"
      "--preset FILE.json takes the shape from a Hugging Face config.json instead (a full-size random model to\n"
      "benchmark); --dtype writes the weights in that dtype (default float32).\n";
  Args a = parse_args(argc, argv, "init", {"--preset", "--tokenizer", "--out", "--seed", "--dtype"}, {}, usage, details);
  GRPO_CHECK(a.has("--preset") && a.has("--tokenizer") && a.has("--out"), "grpo init: --preset, --tokenizer and "
             "--out are required; usage: ", usage);
  const int64_t seed = a.get_count("--seed", 1, "init");
  Policy p = new_policy(a.get("--preset"), a.get("--tokenizer"), static_cast<uint64_t>(seed));
  p.model->to(parse_model_dtype(a.get("--dtype", "float32"), at::kFloat));
  save_policy_atomic(p, a.get("--out"));
  std::printf("%s: %s, %s parameters, tokenizer %s\n", a.get("--out").c_str(), p.config.model_type.c_str(),
              std::to_string(p.config.n_params()).c_str(), p.tokenizer->describe().c_str());
  return 0;
}

}  // namespace grpo::recipes
