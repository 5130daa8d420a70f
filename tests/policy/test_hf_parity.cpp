// Hugging Face parity: tiny random checkpoints of every supported architecture, written by transformers with its
// own log-probs (scripts/make_model_fixtures.py -> tests/fixtures/models/<name>/), must load here and give the
// same per-token log-probs (fp32 within 1e-4, bf16 within 2e-2) and the same 16-token greedy continuation, through
// the full forward and through the KV cache. Also: parameter counts, gradients of the training forward, the
// router-bias update, save -> load round trips, the architecture table, and config.json errors.
#include "tests/catch_torch.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <c10/core/InferenceMode.h>
#include <nlohmann/json.hpp>

#include "policy/weights.h"
#include "tests/devices.h"
#include "tests/policy/paged_util.h"
#include "tests/shared_data.h"

using namespace grpo::policy;
namespace fs = std::filesystem;

namespace {

// Fixture directories (llama_tied: a second llama, with tied embeddings and attention biases).
const std::vector<std::string> kArchs = {"qwen2",       "qwen3",       "qwen3_moe", "mixtral",    "olmoe",
                                         "deepseek_v2", "deepseek_v3", "llama",     "llama_tied", "mistral"};

std::string fixture(const std::string& arch) { return grpo::test::source_path("tests/fixtures/models/" + arch); }

nlohmann::json reference(const std::string& arch) {
  std::ifstream in(fixture(arch) + "/reference.json");
  REQUIRE(in.good());
  return nlohmann::json::parse(in);
}

std::string temp_dir(const std::string& name) {
  auto p = fs::temp_directory_path() / ("grpo_parity_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(p);
  return p.string();
}

// log p(seq[t+1] | seq[..t]) for t = 0..T-2, float32 on CPU.
at::Tensor seq_logprobs(Transformer& m, const std::vector<int64_t>& seq) {
  at::Tensor ids = at::tensor(seq, at::kLong).unsqueeze(0).to(m->embed_tokens->weight.device());
  at::Tensor logits = m->logits(m->forward(ids).hidden)[0].to(at::kFloat);
  at::Tensor lp = at::log_softmax(logits.narrow(0, 0, ids.size(1) - 1), -1);
  return lp.gather(1, ids[0].narrow(0, 1, ids.size(1) - 1).unsqueeze(1)).squeeze(1).to(at::kCPU);
}

// Largest |ours - theirs| over every sequence of the fixture.
double max_logprob_diff(Transformer& m, const nlohmann::json& ref, const char* key) {
  double worst = 0;
  for (size_t i = 0; i < ref["sequences"].size(); ++i) {
    at::Tensor ours = seq_logprobs(m, ref["sequences"][i].get<std::vector<int64_t>>());
    at::Tensor theirs = at::tensor(ref[key][i].get<std::vector<double>>(), at::kDouble).to(at::kFloat);
    REQUIRE(ours.numel() == theirs.numel());
    worst = std::max(worst, (ours - theirs).abs().max().item<double>());
  }
  return worst;
}

std::vector<int64_t> greedy_full(Transformer& m, std::vector<int64_t> ids, int n) {
  const at::Device device = m->embed_tokens->weight.device();
  std::vector<int64_t> out;
  for (int i = 0; i < n; ++i) {
    at::Tensor logits = m->logits(m->forward(at::tensor(ids, at::kLong).unsqueeze(0).to(device)).hidden)[0][-1];
    ids.push_back(logits.argmax().item<int64_t>());
    out.push_back(ids.back());
  }
  return out;
}

// Greedy through the paged cache: the prompt in two prefill chunks, then one token at a time, blocks of 3 tokens
// (which divide neither the prompt nor the chunks).
std::vector<int64_t> greedy_cached(Transformer& m, const std::vector<int64_t>& prompt, int n) {
  const int64_t P = static_cast<int64_t>(prompt.size()), half = P / 2;
  grpo::test::TestPages pages(m, 1, P + n, 3);
  at::Tensor ids = at::tensor(prompt, at::kLong).unsqueeze(0);
  pages.forward(m, ids.narrow(1, 0, half).contiguous(), at::arange(half, at::kLong).unsqueeze(0));
  at::Tensor hidden = pages.forward(m, ids.narrow(1, half, P - half).contiguous(),
                                    at::arange(half, P, at::kLong).unsqueeze(0));
  int64_t next = m->logits(hidden)[0][-1].argmax().item<int64_t>();
  std::vector<int64_t> out = {next};
  for (int64_t pos = P; static_cast<int>(out.size()) < n; ++pos) {
    at::Tensor h = pages.forward(m, at::full({1, 1}, next, at::kLong), at::full({1, 1}, pos, at::kLong));
    next = m->logits(h)[0][0].argmax().item<int64_t>();
    out.push_back(next);
  }
  return out;
}

}  // namespace

TEST_CASE("every architecture matches transformers: fp32 log-probs and greedy continuation", "[cpu][parity]") {
  c10::InferenceMode guard;
  for (const auto& arch : kArchs) {
    INFO("architecture " << arch);
    nlohmann::json ref = reference(arch);
    Transformer m = load_model(fixture(arch), at::kCPU, at::kFloat);
    CHECK(m->config.model_type == ref["model_type"].get<std::string>());
    CHECK(m->config.info().model_type == m->config.model_type);
    const double diff = max_logprob_diff(m, ref, "logprobs_f32");
    INFO("max |logprob diff| " << diff);
    CHECK(diff <= 1e-4);
    const auto prompt = ref["greedy_prompt"].get<std::vector<int64_t>>();
    const auto want = ref["greedy_tokens"].get<std::vector<int64_t>>();
    CHECK(greedy_full(m, prompt, 16) == want);
    CHECK(greedy_cached(m, prompt, 16) == want);
  }
}

TEST_CASE("every architecture in bf16 matches transformers' bf16 within 2e-2", "[cpu][parity]") {
  c10::InferenceMode guard;
  for (const auto& arch : kArchs) {
    INFO("architecture " << arch);
    Transformer m = load_model(fixture(arch), at::kCPU, at::kBFloat16);
    CHECK(m->embed_tokens->weight.scalar_type() == at::kBFloat16);
    const double diff = max_logprob_diff(m, reference(arch), "logprobs_bf16");
    INFO("max |logprob diff| " << diff);
    CHECK(diff <= 2e-2);
  }
}

TEST_CASE("every architecture on CUDA matches transformers: fp32 log-probs and greedy, bf16 within 5e-2", "[gpu]") {
  GRPO_NEED_CUDA();
  at::globalContext().setFloat32MatmulPrecision("highest");  // no TF32: float32 is compared at 1e-4
  c10::InferenceMode guard;
  for (const auto& arch : kArchs) {
    INFO("architecture " << arch);
    nlohmann::json ref = reference(arch);
    Transformer m = load_model(fixture(arch), at::kCUDA, at::kFloat);
    const double diff = max_logprob_diff(m, ref, "logprobs_f32");
    INFO("max |logprob diff| fp32 " << diff);
    CHECK(diff <= 1e-4);
    const auto prompt = ref["greedy_prompt"].get<std::vector<int64_t>>();
    const auto want = ref["greedy_tokens"].get<std::vector<int64_t>>();
    CHECK(greedy_full(m, prompt, 16) == want);
    CHECK(greedy_cached(m, prompt, 16) == want);
    // transformers' bf16 reference ran on the CPU; GPU bf16 kernels accumulate in another order.
    Transformer b = load_model(fixture(arch), at::kCUDA, at::kBFloat16);
    const double diff16 = max_logprob_diff(b, ref, "logprobs_bf16");
    INFO("max |logprob diff| bf16 " << diff16);
    CHECK(diff16 <= 5e-2);
  }
}

TEST_CASE("parameter counts agree with the module tree and with transformers", "[cpu][parity]") {
  for (const auto& arch : kArchs) {
    INFO("architecture " << arch);
    ModelConfig cfg = read_model_config(fixture(arch) + "/config.json");
    Transformer m(cfg, 1, /*init_weights=*/false);
    int64_t counted = 0;
    for (const auto& p : m->parameters()) counted += p.numel();
    CHECK(counted == cfg.n_params());
    CHECK(cfg.n_params() == reference(arch)["num_parameters"].get<int64_t>());
    if (cfg.n_expert > 0) CHECK(cfg.n_active_params() < cfg.n_params());
    else CHECK(cfg.n_active_params() == cfg.n_params());
  }
}

TEST_CASE("the training forward gives finite gradients to every weight, with the load-balancing loss",
          "[cpu][parity]") {
  for (const auto& arch : kArchs) {
    INFO("architecture " << arch);
    Transformer m = load_model(fixture(arch), at::kCPU, at::kFloat);
    nlohmann::json ref = reference(arch);
    at::Tensor ids = at::tensor(ref["sequences"][2].get<std::vector<int64_t>>(), at::kLong).unsqueeze(0);
    ForwardOutput out = m->forward(ids);
    at::Tensor loss = -at::log_softmax(m->logits(out.hidden)[0].narrow(0, 0, ids.size(1) - 1), -1)
                           .gather(1, ids[0].narrow(0, 1, ids.size(1) - 1).unsqueeze(1))
                           .mean();
    if (!out.router_logits.empty()) {
      at::Tensor aux = load_balancing_loss(out.router_logits, m->config.n_expert_used, at::Tensor());
      CHECK(aux.item<double>() > 0);
      loss = loss + m->config.router_aux_loss_coef * aux;
      // Expert load per MoE layer: every token routed K times.
      for (const auto& c : out.expert_counts) CHECK(c.sum().item<int64_t>() == ids.size(1) * m->config.n_expert_used);
    }
    loss.backward();
    int64_t with_grad = 0, total = 0;
    for (const auto& p : m->named_parameters()) {
      ++total;
      if (!p.value().grad().defined()) continue;  // an expert no token was routed to
      INFO("parameter " << p.key());
      CHECK(at::isfinite(p.value().grad()).all().item<bool>());
      with_grad += p.value().grad().abs().sum().item<double>() > 0;
    }
    CHECK(with_grad > total / 2);
  }
}

TEST_CASE("DeepSeek-V3's auxiliary-loss-free bias update moves the score bias against the load", "[cpu][parity]") {
  Transformer m = load_model(fixture("deepseek_v3"), at::kCPU, at::kFloat);
  MoE& moe = m->layers[1]->moe;
  REQUIRE(moe);
  REQUIRE(moe->score_bias.defined());
  // The bias is read from the checkpoint, not left at zero.
  CHECK(moe->score_bias.abs().sum().item<double>() > 0);
  at::Tensor before = moe->score_bias.clone();
  at::Tensor load = at::tensor({10, 0, 3, 3, 4, 2, 1, 1}, at::kLong);  // mean 3
  moe->update_router_bias(load, 0.001);
  at::Tensor want = before + at::tensor({-1.f, 1.f, 0.f, 0.f, -1.f, 1.f, 1.f, 1.f}) * 0.001;
  CHECK((moe->score_bias - want).abs().max().item<double>() < 1e-7);
  // Not a trained parameter: the optimizer never sees it.
  for (const auto& p : m->named_parameters()) CHECK(p.key().find("e_score_correction_bias") == std::string::npos);
  // Routers without the bias refuse the update.
  Transformer q = load_model(fixture("qwen3_moe"), at::kCPU, at::kFloat);
  CHECK_THROWS_WITH(q->layers[0]->moe->update_router_bias(load.narrow(0, 0, 4), 0.001),
                    Catch::Contains("e_score_correction_bias"));
}

TEST_CASE("save then load gives identical log-probs, single file and sharded, f32 and bf16", "[cpu][parity]") {
  c10::InferenceMode guard;
  for (const auto& arch : kArchs) {
    INFO("architecture " << arch);
    nlohmann::json ref = reference(arch);
    const auto seq = ref["sequences"][0].get<std::vector<int64_t>>();
    for (at::ScalarType dtype : {at::kFloat, at::kBFloat16}) {
      Transformer m = load_model(fixture(arch), at::kCPU, dtype);
      at::Tensor want = seq_logprobs(m, seq);
      const std::string dir = temp_dir(arch);
      save_model_atomic(m, nullptr, dir, /*max_shard_bytes=*/dtype == at::kFloat ? 100'000 : 5ull << 30);
      CHECK(fs::exists(fs::path(dir) / (dtype == at::kFloat ? "model.safetensors.index.json" : "model.safetensors")));
      CHECK(checkpoint_dtype(dir) == dtype);
      Transformer back = load_model(dir, at::kCPU, at::kFloat == dtype ? at::kFloat : at::kBFloat16);
      CHECK(at::equal(seq_logprobs(back, seq), want));
      // The config written is the one read (only the dtype key changes), so it parses to the same model.
      CHECK(read_model_config(dir + "/config.json").n_params() == m->config.n_params());
      CHECK_THROWS_WITH(save_model_atomic(m, nullptr, dir), Catch::Contains("already exists"));
      fs::remove_all(dir);
    }
  }
}

TEST_CASE("config.json: both rope forms, and unsupported options named", "[cpu][parity]") {
  std::ifstream in(fixture("deepseek_v3") + "/config.json");
  nlohmann::json v4 = nlohmann::json::parse(in);
  ModelConfig a = parse_model_config(v4.dump(), "v4.json");
  CHECK(a.rope.type == "yarn");
  CHECK(a.rope.factor == 4.0);
  CHECK(a.rope.original_max_position_embeddings == 64);
  CHECK(a.rope.interleaved);
  CHECK(a.attention_scale() > 1.0 / std::sqrt(24.0));  // mscale^2 > 1
  // The same settings in transformers v5's rope_parameters form.
  nlohmann::json v5 = v4;
  nlohmann::json rp = v4["rope_scaling"];
  rp.erase("type");
  rp["rope_type"] = "yarn";
  rp["rope_theta"] = v4["rope_theta"];
  v5.erase("rope_scaling");
  v5.erase("rope_theta");
  v5["rope_parameters"] = rp;
  ModelConfig b = parse_model_config(v5.dump(), "v5.json");
  CHECK(b.rope.type == a.rope.type);
  CHECK(b.rope.theta == a.rope.theta);
  CHECK(b.rope.factor == a.rope.factor);
  CHECK(b.rope.mscale_all_dim == a.rope.mscale_all_dim);
  CHECK(b.attention_scale() == a.attention_scale());

  auto with = [&](const char* key, nlohmann::json value) {
    nlohmann::json j = v4;
    j[key] = std::move(value);
    return j.dump();
  };
  CHECK_THROWS_WITH(parse_model_config(with("model_type", "gpt_neox"), "c.json"),
                    Catch::Contains("gpt_neox") && Catch::Contains("c.json") && Catch::Contains("qwen3_moe"));
  CHECK_THROWS_WITH(parse_model_config(with("rope_scaling", {{"type", "dynamic"}, {"factor", 2.0}}), "c.json"),
                    Catch::Contains("dynamic"));
  CHECK_THROWS_WITH(parse_model_config(with("quantization_config", {{"quant_method", "fp8"}}), "c.json"),
                    Catch::Contains("quantization_config"));
  CHECK_THROWS_WITH(parse_model_config(with("hidden_act", "gelu"), "c.json"), Catch::Contains("hidden_act"));
  CHECK_THROWS_WITH(parse_model_config(with("scoring_func", "softmax"), "c.json"), Catch::Contains("scoring_func"));
  CHECK_THROWS_WITH(parse_model_config(with("n_group", 3), "c.json"), Catch::Contains("n_group"));
  CHECK_THROWS_WITH(parse_model_config(with("kv_lora_rank", "big"), "c.json"), Catch::Contains("kv_lora_rank"));
  std::ifstream in2(fixture("mixtral") + "/config.json");
  nlohmann::json mix = nlohmann::json::parse(in2);
  mix["sliding_window"] = 4096;
  CHECK_THROWS_WITH(parse_model_config(mix.dump(), "m.json"), Catch::Contains("sliding_window"));
}

TEST_CASE("the architecture table: one row per model_type, in enum order, read back from every fixture",
          "[cpu][parity]") {
  const auto& table = arch_table();
  REQUIRE(table.size() == 9);
  for (size_t i = 0; i < table.size(); ++i) {
    INFO("row " << i << " " << table[i].model_type);
    CHECK(static_cast<size_t>(table[i].arch) == i);
    CHECK(&arch_info(table[i].arch) == &table[i]);
    CHECK(arch_from_model_type(table[i].model_type) == table[i].arch);
  }
  CHECK_FALSE(arch_from_model_type("gpt_neox").has_value());
  // The HF class name of each row is the one transformers writes into the fixture's config.json.
  for (const auto& arch : kArchs) {
    INFO("fixture " << arch);
    std::ifstream in(fixture(arch) + "/config.json");
    nlohmann::json j = nlohmann::json::parse(in);
    ModelConfig c = parse_model_config(j.dump(), arch);
    CHECK(j["architectures"][0].get<std::string>() == c.info().hf_class);
  }
  // A config built by hand must keep arch and model_type in step.
  ModelConfig c = model_preset("test-moe", 40);
  c.model_type = "llama";
  CHECK_THROWS_WITH(c.validate(), Catch::Contains("llama") && Catch::Contains("qwen3_moe"));
}

TEST_CASE("llama and mistral: rope scaling, biases and head_dim as config.json says; unsupported options named",
          "[cpu][parity]") {
  auto config_of = [](const std::string& name) {
    std::ifstream in(fixture(name) + "/config.json");
    return nlohmann::json::parse(in);
  };
  nlohmann::json llama = config_of("llama");
  ModelConfig a = parse_model_config(llama.dump(), "llama.json");
  CHECK(a.arch == Arch::Llama);
  CHECK(a.rope.type == "llama3");
  CHECK(a.rope.factor == 8.0);
  CHECK(a.rope.original_max_position_embeddings == 64);
  CHECK_FALSE(a.tie_word_embeddings);
  CHECK_FALSE(a.qkv_bias);
  // Llama 3 scaling in the three bands (wavelengths 6, 32, 167, ... against [16, 64]): the shortest kept, the next
  // blended, the rest divided by the factor.
  Rope scaled = make_rope(a.head_dim, a.rope, a.max_position_embeddings);
  RopeConfig plain_cfg = a.rope;
  plain_cfg.type = "default";
  at::Tensor ratio = scaled.inv_freq / make_rope(a.head_dim, plain_cfg, a.max_position_embeddings).inv_freq;
  CHECK(ratio[0].item<double>() == 1.0);
  CHECK(ratio[1].item<double>() > 0.126);
  CHECK(ratio[1].item<double>() < 0.99);
  for (int64_t i = 2; i < ratio.size(0); ++i) CHECK(std::abs(ratio[i].item<double>() - 0.125) < 1e-6);
  // Without original_max_position_embeddings in the rope dict, the top-level key, then max_position_embeddings
  // (transformers' standardize_rope_params).
  nlohmann::json no_orig = llama;
  no_orig["rope_scaling"].erase("original_max_position_embeddings");
  CHECK(parse_model_config(no_orig.dump(), "l.json").rope.original_max_position_embeddings == 0);
  no_orig["original_max_position_embeddings"] = 32;
  CHECK(parse_model_config(no_orig.dump(), "l.json").rope.original_max_position_embeddings == 32);
  nlohmann::json no_factor = llama;
  no_factor["rope_scaling"].erase("low_freq_factor");
  CHECK_THROWS_WITH(parse_model_config(no_factor.dump(), "l.json"), Catch::Contains("low_freq_factor"));

  ModelConfig tied = parse_model_config(config_of("llama_tied").dump(), "tied.json");
  CHECK(tied.tie_word_embeddings);
  CHECK(tied.qkv_bias);
  CHECK(tied.o_bias);

  nlohmann::json mistral = config_of("mistral");
  ModelConfig m = parse_model_config(mistral.dump(), "mistral.json");
  CHECK(m.arch == Arch::Mistral);
  CHECK(m.head_dim == 24);  // not hidden_size / num_attention_heads = 16
  // Mistral has no attention biases whatever the file says (transformers' MistralAttention has none).
  mistral["attention_bias"] = true;
  CHECK_FALSE(parse_model_config(mistral.dump(), "mistral.json").qkv_bias);

  // A sliding window (Mistral 7B v0.1 has 4096) and biased MLPs are refused, naming the key and the value.
  mistral["sliding_window"] = 4096;
  CHECK_THROWS_WITH(parse_model_config(mistral.dump(), "mistral.json"),
                    Catch::Contains("mistral.json") && Catch::Contains("sliding_window=4096"));
  llama["mlp_bias"] = true;
  CHECK_THROWS_WITH(parse_model_config(llama.dump(), "llama.json"),
                    Catch::Contains("llama.json") && Catch::Contains("mlp_bias=true"));
  // Qwen2 carries a sliding_window it ignores unless use_sliding_window is set.
  nlohmann::json qwen2 = config_of("qwen2");
  qwen2["sliding_window"] = 32768;
  CHECK_NOTHROW(parse_model_config(qwen2.dump(), "qwen2.json"));
  qwen2["use_sliding_window"] = true;
  CHECK_THROWS_WITH(parse_model_config(qwen2.dump(), "qwen2.json"), Catch::Contains("use_sliding_window"));
}

TEST_CASE("model_tensor_shapes lists every tensor of the model without allocating it", "[cpu][parity]") {
  for (const auto& arch : kArchs) {
    INFO("architecture " << arch);
    ModelConfig cfg = read_model_config(fixture(arch) + "/config.json");
    Transformer cpu(cfg, 1, /*init_weights=*/false);
    std::vector<TensorShape> want;
    for (const auto& p : cpu->named_parameters()) want.push_back({p.key(), p.value().sizes().vec()});
    for (const auto& b : cpu->named_buffers()) want.push_back({b.key(), b.value().sizes().vec()});
    const std::vector<TensorShape> got = model_tensor_shapes(cfg);
    REQUIRE(got.size() == want.size());
    for (size_t i = 0; i < got.size(); ++i) {
      CHECK(got[i].name == want[i].name);
      CHECK(got[i].shape == want[i].shape);
    }
  }
  // A model far larger than this machine's memory (Llama 3.1 405B shapes) costs nothing on the meta device.
  ModelConfig big = read_model_config(fixture("llama") + "/config.json");
  big.n_vocab = 128256, big.n_embd = 16384, big.n_layer = 126, big.n_head = 128, big.n_kv_head = 8;
  big.head_dim = 128, big.n_ff = 53248;
  const auto shapes = model_tensor_shapes(big);
  int64_t total = 0;
  for (const auto& t : shapes) total += c10::multiply_integers(t.shape);
  CHECK(total == big.n_params());
  CHECK(total > 400'000'000'000);
}
