// The paged engine: greedy tokens equal transformers' on every architecture fixture at block sizes 1, 16 and 5 (which
// divides no prompt), with and without prefix sharing; a pool too small for the batch preempts and still returns
// the same completions; the blocks a group holds are one prompt plus its samples; prompts sharing a header reuse its
// blocks; MLA caches its latent.
#include "tests/catch_torch.h"

#include <fstream>
#include <memory>

#include <nlohmann/json.hpp>

#include "policy/tokenizer/char_tokenizer.h"
#include "policy/weights.h"
#include "rollout/engine.h"
#include "tests/shared_data.h"

using namespace grpo;
using grpo::rollout::Completion;
using grpo::rollout::Prompt;

namespace {

// Ids as text ("<12>"): any model vocabulary decodes.
class IdTokenizer : public policy::Tokenizer {
 public:
  explicit IdTokenizer(int64_t n) : n_(n) {}
  std::vector<int64_t> encode(std::string_view) const override { return {}; }
  std::string decode(const std::vector<int64_t>& ids) const override {
    std::string s;
    for (int64_t id : ids) s += "<" + std::to_string(id) + ">";
    return s;
  }
  int64_t vocab_size() const override { return n_; }
  int64_t eos_id() const override { return n_ - 1; }
  int64_t pad_id() const override { return 0; }
  int64_t token_to_id(std::string_view) const override { return -1; }
  std::string id_to_token(int64_t id) const override { return "<" + std::to_string(id) + ">"; }
  void save(const std::string&) const override {}
  std::string describe() const override { return "ids"; }

 private:
  int64_t n_;
};

const std::vector<std::string> kArchs = {"qwen2",       "qwen3",       "qwen3_moe", "mixtral",    "olmoe",
                                         "deepseek_v2", "deepseek_v3", "llama",     "llama_tied", "mistral"};

rollout::SamplingConfig greedy(int64_t max_new) {
  rollout::SamplingConfig s;
  s.temperature = 0;
  s.max_new_tokens = max_new;
  return s;
}

rollout::SamplingConfig sampled(int64_t max_new) {
  rollout::SamplingConfig s;
  s.temperature = 1.0;
  s.max_new_tokens = max_new;
  s.seed = 9;
  return s;
}

Prompt make_prompt(int64_t id, std::vector<int64_t> ids) {
  Prompt p;
  p.id = id;
  p.token_ids = std::move(ids);
  return p;
}

// A test-moe model of the character vocabulary with a varied distribution, and prompts of several lengths.
struct Tiny {
  std::shared_ptr<policy::CharTokenizer> tok = std::make_shared<policy::CharTokenizer>();
  policy::Transformer model{nullptr};
  Tiny() {
    policy::ModelConfig cfg = policy::model_preset("test-moe", tok->vocab_size());
    cfg.initializer_range = 0.15;
    model = policy::Transformer(cfg, 3);
  }
  std::vector<Prompt> prompts(int n, int header = 0) const {
    std::vector<Prompt> out;
    for (int i = 0; i < n; ++i) {
      std::string text = std::string(static_cast<size_t>(header), 'h') +
                         std::string(static_cast<size_t>(3 + i % 7), static_cast<char>('a' + i % 26)) + "=";
      out.push_back(make_prompt(200 + i, tok->encode(text)));
    }
    return out;
  }
  rollout::RolloutEngine engine(int64_t block_size, int64_t kv_blocks, bool share, int64_t max_batch = 64) const {
    rollout::EngineConfig ec;
    ec.max_batch = max_batch;
    ec.max_seq_len = 64;
    ec.block_size = block_size;
    ec.kv_blocks = kv_blocks;
    ec.share_prefix = share;
    ec.ignore_eos = true;
    return rollout::RolloutEngine(model, tok, ec);
  }
};

std::vector<std::vector<int64_t>> tokens_of(const std::vector<Completion>& cs) {
  std::vector<std::vector<int64_t>> out;
  for (const auto& c : cs) out.push_back(c.token_ids);
  return out;
}

}  // namespace

TEST_CASE("paged engine greedy equals transformers on every architecture, block sizes 1, 16 and 5", "[cpu][parity]") {
  for (const auto& arch : kArchs) {
    const std::string dir = test::source_path("tests/fixtures/models/" + arch);
    std::ifstream in(dir + "/reference.json");
    REQUIRE(in.good());
    const nlohmann::json ref = nlohmann::json::parse(in);
    policy::Transformer m = policy::load_model(dir, at::kCPU, at::kFloat);
    auto tok = std::make_shared<IdTokenizer>(m->config.n_vocab);
    const auto prompt = ref["greedy_prompt"].get<std::vector<int64_t>>();
    const auto want = ref["greedy_tokens"].get<std::vector<int64_t>>();
    for (int64_t bs : {1, 16, 5}) {
      for (bool share : {true, false}) {
        INFO(arch << ", block size " << bs << ", prefix sharing " << share << ", prompt of " << prompt.size());
        rollout::EngineConfig ec;
        ec.max_seq_len = static_cast<int64_t>(prompt.size() + want.size()) + 1;
        ec.block_size = bs;
        ec.share_prefix = share;
        ec.ignore_eos = true;
        ec.max_prefill_tokens = 7;  // the prompt goes in chunks
        rollout::RolloutEngine engine(m, tok, ec);
        // Three samples of the prompt (sharing its blocks), and the prompt again under another id.
        auto out = engine.generate({make_prompt(1, prompt), make_prompt(2, prompt)}, 3,
                                   greedy(static_cast<int64_t>(want.size())));
        REQUIRE(out.size() == 6);
        for (const auto& c : out) CHECK(c.token_ids == want);
      }
    }
  }
}

TEST_CASE("a pool too small for the batch preempts and returns the same completions", "[cpu]") {
  Tiny t;
  auto prompts = t.prompts(12);
  auto roomy = t.engine(4, 0, true);
  const auto want = tokens_of(roomy.generate(prompts, 4, sampled(20)));
  CHECK(roomy.last_stats().preemptions == 0);
  for (bool share : {true, false}) {
    INFO("prefix sharing " << share);
    // 12 blocks of 4 tokens: room for about two sequences of 26 tokens at a time.
    auto tight = t.engine(4, 12, share);
    CHECK(tokens_of(tight.generate(prompts, 4, sampled(20))) == want);
    CHECK(tight.last_stats().preemptions > 0);
    CHECK(tight.last_stats().kv_blocks_peak <= 12);
  }
  // A sequence that cannot fit at all stops with the knob to turn.
  auto hopeless = t.engine(4, 1, true);
  CHECK_THROWS_WITH(hopeless.generate(prompts, 1, sampled(4)), Catch::Contains("raise rollout.kv_cache_mb"));
}

TEST_CASE("a group holds one prompt's blocks plus its samples'", "[cpu]") {
  Tiny t;
  // 40 prompt tokens = 10 blocks of 4; 8 new tokens per sample = 2 blocks each (the first at position 40).
  std::vector<Prompt> one = {make_prompt(7, t.tok->encode(std::string(39, 'q') + "="))};
  REQUIRE(one[0].token_ids.size() == 40);
  auto shared = t.engine(4, 0, true);
  shared.generate(one, 8, sampled(8));
  CHECK(shared.last_stats().kv_blocks_peak == 10 + 8 * 2);
  CHECK(shared.last_stats().prompt_tokens == 40);  // prefilled once
  auto separate = t.engine(4, 0, false);
  separate.generate(one, 8, sampled(8));
  CHECK(separate.last_stats().kv_blocks_peak == 8 * (10 + 2));
  CHECK(separate.last_stats().prompt_tokens == 8 * 40);
  // A prompt that ends inside a block: the samples share the full blocks and each copies the partial one.
  std::vector<Prompt> odd = {make_prompt(8, t.tok->encode(std::string(37, 'q') + "="))};  // 38 = 9 blocks + 2
  auto shared_odd = t.engine(4, 0, true);
  shared_odd.generate(odd, 8, sampled(8));
  // 9 shared + the leader's partial block; each of the 7 others a copy; 8 new tokens from position 38: the partial
  // block takes 2, then 2 more blocks each.
  CHECK(shared_odd.last_stats().kv_blocks_peak == 9 + 8 * (1 + 2));
}

TEST_CASE("prompts that share a header reuse its cached blocks", "[cpu]") {
  Tiny t;
  auto prompts = t.prompts(3, /*header=*/32);  // the same 32-token header, different tails
  auto engine = t.engine(4, 0, true);
  auto out = engine.generate(prompts, 2, sampled(6));
  // The first prompt computes the header (8 blocks); the others find them in the prefix index.
  CHECK(engine.last_stats().prefix_hit_tokens == 2 * 32);
  auto plain = t.engine(4, 0, false);
  CHECK(tokens_of(plain.generate(prompts, 2, sampled(6))) == tokens_of(out));
  CHECK(plain.last_stats().prefix_hit_tokens == 0);
}

TEST_CASE("MLA caches the latent and the rope key, not per-head K and V", "[cpu]") {
  const policy::ModelConfig cfg =
      policy::read_model_config(test::source_path("tests/fixtures/models/deepseek_v3/config.json"));
  const int64_t latent = policy::PagedKV::bytes_per_token(cfg, 2), expanded = policy::PagedKV::expanded_bytes_per_token(cfg, 2);
  CHECK(latent == (cfg.kv_lora_rank + cfg.qk_rope_head_dim) * cfg.n_layer * 2);
  CHECK(expanded == cfg.n_head * (cfg.qk_nope_head_dim + cfg.qk_rope_head_dim + cfg.v_head_dim) * cfg.n_layer * 2);
  policy::PagedKV kv = policy::PagedKV::allocate(cfg, 3, 4, at::TensorOptions().dtype(at::kBFloat16));
  CHECK(kv.k[0].sizes() == at::IntArrayRef({3, 4, 1, cfg.kv_lora_rank}));
  CHECK(kv.v[0].sizes() == at::IntArrayRef({3, 4, 1, cfg.qk_rope_head_dim}));
}

TEST_CASE("MoE routing record: the experts of every generated token, as a teacher-forced forward routes them", "[cpu]") {
  Tiny t;
  rollout::EngineConfig ec;
  ec.max_seq_len = 64;
  ec.block_size = 4;
  ec.record_routing = true;
  rollout::RolloutEngine engine(t.model, t.tok, ec);
  auto prompts = t.prompts(3);
  auto out = engine.generate(prompts, 2, sampled(10));
  const auto& cfg = t.model->config;
  int64_t moe_layers = 0;
  for (int64_t l = 0; l < cfg.n_layer; ++l) moe_layers += cfg.is_moe_layer(l);
  REQUIRE(moe_layers > 0);
  c10::InferenceMode guard;
  for (size_t i = 0; i < out.size(); ++i) {
    const Completion& c = out[i];
    REQUIRE(c.routing.size() == c.token_ids.size());
    // The training forward over prompt + completion: position P-1+t produced token t.
    std::vector<int64_t> ids = prompts[i / 2].token_ids;
    const int64_t P = static_cast<int64_t>(ids.size());
    ids.insert(ids.end(), c.token_ids.begin(), c.token_ids.end());
    policy::ForwardOutput f = t.model->forward(at::tensor(ids, at::kLong).unsqueeze(0));
    REQUIRE(static_cast<int64_t>(f.routes.size()) == moe_layers);
    for (size_t tok = 0; tok < c.routing.size(); ++tok) {
      REQUIRE(static_cast<int64_t>(c.routing[tok].size()) == moe_layers * cfg.n_expert_used);
      for (int64_t l = 0; l < moe_layers; ++l) {
        at::Tensor want = f.routes[static_cast<size_t>(l)][P - 1 + static_cast<int64_t>(tok)];
        for (int64_t k = 0; k < cfg.n_expert_used; ++k) {
          CHECK(c.routing[tok][static_cast<size_t>(l * cfg.n_expert_used + k)] == want[k].item<int64_t>());
        }
      }
    }
  }
  // Not asked for: nothing recorded.
  auto plain = t.engine(4, 0, true);
  for (const auto& c : plain.generate(prompts, 1, sampled(4))) CHECK(c.routing.empty());
}
