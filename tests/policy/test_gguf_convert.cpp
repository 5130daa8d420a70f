// GGUF -> Hugging Face directory (policy/gguf_convert.h): the committed tiny llama file of
// scripts/make_gguf_fixture.py (written by the gguf package in F32, F16, BF16, Q8_0, Q4_0 and Q4_1) converts into a
// directory whose tensors equal transformers' own GGUF loading bit for bit, with its config, tokenizer ids, chat
// template, log-probs and greedy continuation; the q/k rows are un-permuted as worked out by hand; and files we do not
// convert stop with one error naming the file and the reason.
#include "tests/catch_torch.h"

#include <fstream>
#include <functional>
#include <map>

#include <ATen/core/grad_mode.h>

#include <nlohmann/json.hpp>

#include "kernels/check.h"
#include "policy/gguf_convert.h"
#include "policy/safetensors.h"
#include "policy/tokenizer/chat_template.h"
#include "policy/tokenizer/unicode.h"
#include "tests/policy/gguf_test_util.h"
#include "tests/temp_dir.h"
#include "tests/shared_data.h"

using namespace grpo::policy;
using grpo::test::GgufBuilder;
using grpo::test::TempDir;

namespace {

std::string fixture(const std::string& name) { return grpo::test::source_path("tests/fixtures/gguf/" + name); }

nlohmann::json reference() {
  std::ifstream in(fixture("tiny_llama_reference.json"));
  REQUIRE(in.good());
  return nlohmann::json::parse(in);
}

// transformers' float32 tensors of the fixture, by Hugging Face name.
std::map<std::string, at::Tensor> expected_tensors() {
  auto f = SafetensorsFile::open(fixture("tiny_llama_expected.safetensors"));
  std::map<std::string, at::Tensor> out;
  for (const auto& t : f->tensors()) {
    REQUIRE(t.dtype == DType::F32);
    out[t.name] = at::empty(t.shape, at::kFloat);
    f->read_into(t, out[t.name].data_ptr());
  }
  return out;
}

// log p(seq[t+1] | seq[..t]), float32.
at::Tensor seq_logprobs(Transformer& m, const std::vector<int64_t>& seq) {
  at::NoGradGuard no_grad;
  at::Tensor ids = at::tensor(seq, at::kLong).unsqueeze(0);
  at::Tensor lp = at::log_softmax(m->logits(m->forward(ids).hidden)[0].narrow(0, 0, ids.size(1) - 1), -1);
  return lp.gather(1, ids[0].narrow(0, 1, ids.size(1) - 1).unsqueeze(1)).squeeze(1);
}

// A one-layer llama in F32 on a 256-token byte-level vocabulary: hidden 32, 4 heads over 2 KV heads (head_dim 8),
// SwiGLU 32. `skip` leaves out one tensor; `type_of` may give one tensor another type (its bytes then sized for it).
struct TinyLlama {
  std::string arch = "llama", skip, tokenizer_model = "gpt2";
  std::map<std::string, uint32_t> type_of;
  std::map<std::string, std::vector<uint64_t>> ne_of;
  std::vector<std::pair<std::string, std::vector<uint64_t>>> extra;  // more F32 tensors
  std::function<void(GgufBuilder&)> more_keys = [](GgufBuilder&) {};
  bool context_length = true;
  bool row_indexed = false;  // attn_q, attn_k and attn_v hold their row index in every element

  std::string build(const TempDir& dir, const std::string& name) const {
    GgufBuilder b;
    b.string("general.architecture", arch);
    b.u32("llama.block_count", 1);
    if (context_length) b.u32("llama.context_length", 128);
    b.u32("llama.embedding_length", 32);
    b.u32("llama.feed_forward_length", 32);
    b.u32("llama.attention.head_count", 4);
    b.u32("llama.attention.head_count_kv", 2);
    b.f32("llama.rope.freq_base", 10000.0f);
    b.f32("llama.attention.layer_norm_rms_epsilon", 1e-6f);
    more_keys(b);
    std::vector<std::string> tokens;
    for (int c = 0; c < 256; ++c) tokens.push_back(bytes_to_byte_level(std::string(1, char(c))));
    b.string("tokenizer.ggml.model", tokenizer_model);
    b.strings("tokenizer.ggml.tokens", tokens);
    b.u32("tokenizer.ggml.eos_token_id", 0);
    auto add = [&](const std::string& n, std::vector<uint64_t> ne) {
      if (n == skip) return;
      if (ne_of.count(n)) ne = ne_of.at(n);
      const uint32_t type = type_of.count(n) ? type_of.at(n) : kGgmlF32;
      const GgmlTypeInfo* ti = ggml_type_info(type);
      uint64_t numel = 1;
      for (uint64_t d : ne) numel *= d;
      std::vector<float> v(numel);
      const bool rows = row_indexed && (n == "blk.0.attn_q.weight" || n == "blk.0.attn_k.weight" ||
                                        n == "blk.0.attn_v.weight");
      for (size_t i = 0; i < v.size(); ++i) v[i] = rows ? float(i / ne[0]) : float(i % 7) * 0.25f;
      std::string bytes = type == kGgmlF32 ? grpo::test::f32_bytes(v)
                                           : std::string(numel / ti->block_size * ti->type_size, '\x11');
      b.tensor(n, type, ne, bytes);
    };
    add("token_embd.weight", {32, 256});
    add("output_norm.weight", {32});
    add("blk.0.attn_norm.weight", {32});
    add("blk.0.ffn_norm.weight", {32});
    add("blk.0.attn_q.weight", {32, 32});
    add("blk.0.attn_k.weight", {32, 16});
    add("blk.0.attn_v.weight", {32, 16});
    add("blk.0.attn_output.weight", {32, 32});
    add("blk.0.ffn_gate.weight", {32, 32});
    add("blk.0.ffn_up.weight", {32, 32});
    add("blk.0.ffn_down.weight", {32, 32});
    for (const auto& [n, ne] : extra) add(n, ne);
    return dir.file(name, b.build());
  }
};

}  // namespace

TEST_CASE("a tiny GGUF llama converts to the Hugging Face directory transformers makes of it", "[cpu][gguf]") {
  const nlohmann::json ref = reference();
  TempDir dir;
  const std::string out = (dir.path / "m").string();
  {
    Policy p = policy_from_gguf(fixture("tiny_llama.gguf"), at::kFloat);
    save_policy_atomic(p, out);
  }
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                        "generation_config.json"})
    CHECK(std::filesystem::exists(dir.path / "m" / f));

  const ModelConfig c = read_model_config(out + "/config.json");
  const nlohmann::json& rc = ref["config"];
  CHECK(c.model_type == "llama");
  CHECK(c.n_vocab == rc["vocab_size"]);
  CHECK(c.n_embd == rc["hidden_size"]);
  CHECK(c.n_layer == rc["num_hidden_layers"]);
  CHECK(c.n_head == rc["num_attention_heads"]);
  CHECK(c.n_kv_head == rc["num_key_value_heads"]);
  CHECK(c.head_dim == rc["head_dim"]);
  CHECK(c.n_ff == rc["intermediate_size"]);
  CHECK(c.max_position_embeddings == rc["max_position_embeddings"]);
  CHECK(float(c.rms_norm_eps) == float(rc["rms_norm_eps"].get<double>()));
  CHECK(c.rms_norm_eps == 1e-5);  // the shortest decimal of the f32, as the original config.json says
  CHECK(c.rope.theta == rc["rope_theta"].get<double>());
  CHECK(c.rope.type == "default");
  CHECK(c.tie_word_embeddings == rc["tie_word_embeddings"].get<bool>());
  CHECK(c.bos_token_id == rc["bos_token_id"]);
  CHECK(c.eos_token_id == rc["eos_token_id"]);
  CHECK(c.pad_token_id == rc["pad_token_id"]);
  CHECK(read_chat_template_text(out) == ref["chat_template"].get<std::string>());
  CHECK(read_eos_ids(out) == std::vector<int64_t>{2});

  Policy p = load_policy(out, at::kCPU);
  const auto want = expected_tensors();
  size_t n = 0;
  for (const auto& param : p.model->named_parameters()) {
    INFO(param.key());
    REQUIRE(want.count(param.key()));
    CHECK(at::equal(param.value(), want.at(param.key())));  // bit for bit: float32 holds every dequantized value
    ++n;
  }
  CHECK(n == want.size());
  for (size_t i = 0; i < ref["texts"].size(); ++i)
    CHECK(p.tokenizer->encode(ref["texts"][i].get<std::string>()) == ref["text_ids"][i].get<std::vector<int64_t>>());
  for (size_t i = 0; i < ref["sequences"].size(); ++i) {
    at::Tensor ours = seq_logprobs(p.model, ref["sequences"][i].get<std::vector<int64_t>>());
    at::Tensor theirs = at::tensor(ref["logprobs"][i].get<std::vector<double>>(), at::kDouble).to(at::kFloat);
    CHECK((ours - theirs).abs().max().item<double>() < 1e-5);
  }
  std::vector<int64_t> seq = ref["greedy_prompt"].get<std::vector<int64_t>>(), cont;
  at::NoGradGuard no_grad;
  for (int i = 0; i < 12; ++i) {
    at::Tensor logits = p.model->logits(p.model->forward(at::tensor(seq, at::kLong).unsqueeze(0)).hidden);
    seq.push_back(logits[0][-1].argmax().item<int64_t>());
    cont.push_back(seq.back());
  }
  CHECK(cont == ref["greedy_tokens"].get<std::vector<int64_t>>());
}

TEST_CASE("GGUF conversion to bfloat16 rounds each dequantized value once", "[cpu][gguf]") {
  Policy p = policy_from_gguf(fixture("tiny_llama.gguf"), at::kBFloat16);
  const auto want = expected_tensors();
  for (const auto& param : p.model->named_parameters()) {
    INFO(param.key());
    CHECK(param.value().scalar_type() == at::kBFloat16);
    CHECK(at::equal(param.value(), want.at(param.key()).to(at::kBFloat16)));
  }
}

TEST_CASE("attn_q and attn_k rows go back from llama.cpp's interleaved order to rotate-half", "[cpu][gguf]") {
  // Every element of attn_q / attn_k holds its GGUF row. head_dim 8: GGUF row h*8 + 2j + s is HF row h*8 + 4s + j.
  TempDir dir;
  TinyLlama m;
  m.row_indexed = true;
  Policy p = policy_from_gguf(m.build(dir, "rows.gguf"), at::kFloat);
  auto params = p.model->layers[0]->self_attn->named_parameters();
  const at::Tensor q = params["q_proj.weight"], k = params["k_proj.weight"];
  // HF row -> GGUF row, worked out by hand: head 0 of q, head 3 of q (rows 24..31), head 1 of k (rows 8..15).
  const std::vector<std::pair<int, int>> q_rows = {{0, 0}, {1, 2}, {2, 4}, {3, 6}, {4, 1}, {5, 3}, {6, 5}, {7, 7},
                                                   {24, 24}, {25, 26}, {28, 25}, {31, 31}};
  for (auto [hf, gguf] : q_rows) {
    INFO("q: HF row " << hf);
    CHECK(q[hf][0].item<float>() == float(gguf));
    CHECK(q[hf][31].item<float>() == float(gguf));
  }
  const std::vector<std::pair<int, int>> k_rows = {{8, 8}, {9, 10}, {12, 9}, {15, 15}};
  for (auto [hf, gguf] : k_rows) {
    INFO("k: HF row " << hf);
    CHECK(k[hf][5].item<float>() == float(gguf));
  }
  // attn_v is not permuted.
  CHECK(params["v_proj.weight"][1][0].item<float>() == 1.0f);
}

TEST_CASE("GGUF files grpo does not convert stop with one error naming the file and the reason", "[cpu][gguf]") {
  TempDir dir;
  auto expect = [&](const TinyLlama& m, const std::string& what) {
    const std::string path = m.build(dir, "x.gguf");
    try {
      policy_from_gguf(path, at::kFloat);
      FAIL("converted, expected an error with: " << what);
    } catch (const grpo::Error& e) {
      const std::string msg = e.what();
      INFO(msg);
      CHECK(msg.find(path) != std::string::npos);
      CHECK(msg.find(what) != std::string::npos);
      CHECK(msg.find('\n') == std::string::npos);
    }
  };
  {
    TinyLlama ok;  // the base file converts: each case below is one change away from it
    Policy p = policy_from_gguf(ok.build(dir, "ok.gguf"), at::kFloat);
    CHECK(p.config.n_layer == 1);
    CHECK(p.config.head_dim == 8);
    CHECK(p.config.tie_word_embeddings);
    CHECK(p.eos_ids == std::vector<int64_t>{0});
  }
  TinyLlama m;
  m.arch = "qwen2";
  expect(m, "general.architecture is 'qwen2'; only 'llama' GGUF files are converted");
  m = TinyLlama();
  m.type_of["blk.0.ffn_up.weight"] = 6;  // Q5_0
  expect(m, "tensor 'blk.0.ffn_up.weight' has type Q5_0, which grpo cannot dequantize");
  m = TinyLlama();
  m.skip = "blk.0.ffn_down.weight";
  expect(m, "no tensor for model.layers.0.mlp.down_proj.weight");
  m = TinyLlama();
  m.extra = {{"blk.0.attn_q.bias", {32}}};
  expect(m, "tensor 'blk.0.attn_q.bias' is not a llama tensor grpo maps");
  m = TinyLlama();
  m.extra = {{"rope_freqs.weight", {4}}};
  expect(m, "rope_freqs.weight (Llama 3.x RoPE scaling as per-frequency factors) is not supported");
  m = TinyLlama();
  m.extra = {{"blk.7.attn_norm.weight", {32}}};
  expect(m, "tensor 'blk.7.attn_norm.weight' is in layer 7 but llama.block_count is 1");
  m = TinyLlama();
  m.ne_of["blk.0.attn_k.weight"] = {32, 32};
  expect(m, "tensor 'blk.0.attn_k.weight' has shape [32, 32]");
  m = TinyLlama();
  m.context_length = false;
  expect(m, "key llama.context_length is missing");
  m = TinyLlama();
  m.more_keys = [](GgufBuilder& b) { b.u32("llama.expert_count", 8); };
  expect(m, "llama.expert_count = 8: mixture-of-experts");
  m = TinyLlama();
  m.more_keys = [](GgufBuilder& b) { b.string("llama.rope.scaling.type", "yarn"); };
  expect(m, "llama.rope.scaling.type 'yarn' is not supported");
  m = TinyLlama();
  m.tokenizer_model = "llama";
  expect(m, "tokenizer.ggml.model is 'llama'");
  {
    TinyLlama linear;
    linear.more_keys = [](GgufBuilder& b) {
      b.string("llama.rope.scaling.type", "linear");
      b.f32("llama.rope.scaling.factor", 4.0f);
    };
    Policy p = policy_from_gguf(linear.build(dir, "linear.gguf"), at::kFloat);
    CHECK(p.config.rope.type == "linear");
    CHECK(p.config.rope.factor == 4.0);
  }
}
