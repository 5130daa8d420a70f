// Checkpoints are written atomically, found by step, pruned, and restore weights and optimiser state.
#include "tests/catch_torch.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "policy/tokenizer/char_tokenizer.h"
#include "policy/tokenizer/chat_template.h"
#include "policy/weights.h"
#include "rl/checkpoint.h"
#include "rl/learner.h"

using namespace grpo;
using namespace grpo::rl;
namespace fs = std::filesystem;

namespace {
// A fresh test-moe policy with the character tokenizer.
policy::Policy make_policy(uint64_t seed) {
  policy::Policy p;
  p.tokenizer = std::make_shared<policy::CharTokenizer>();
  p.config = policy::model_preset("test-moe", p.tokenizer->vocab_size());
  p.eos_ids = {p.tokenizer->eos_id()};
  p.model = policy::Transformer(p.config, seed);
  return p;
}

std::string temp_dir(const std::string& name) {
  auto p = fs::temp_directory_path() / ("grpo_ckpt_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(p);
  fs::create_directories(p);
  return p.string();
}
}  // namespace

TEST_CASE("checkpoints: newest complete one wins, old ones are pruned, temp dirs are ignored", "[cpu]") {
  std::string run = temp_dir("prune");
  policy::Policy pol = make_policy(1);
  CHECK_FALSE(latest_checkpoint(run).has_value());
  for (int64_t step : {10, 20, 30}) save_checkpoint(run, pol, nullptr, {"grpo", step, 1, {}}, 2);
  CHECK_FALSE(fs::exists(run + "/checkpoints/step_000010"));
  CHECK(fs::exists(run + "/checkpoints/step_000020"));
  // A crash mid-write leaves a temp dir or a dir without trainer_state.json: neither counts.
  fs::create_directories(run + "/checkpoints/.tmp-step_000040-1");
  fs::create_directories(run + "/checkpoints/step_000050");
  std::ofstream(run + "/checkpoints/step_000050/config.json") << "{";
  auto latest = latest_checkpoint(run);
  REQUIRE(latest.has_value());
  CHECK(fs::path(*latest).filename() == "step_000030");
  CHECK(read_trainer_state(*latest).step == 30);
  // Saving the same step again replaces it completely.
  save_checkpoint(run, pol, nullptr, {"grpo", 30, 7, {{"note", "again"}}}, 0);
  CHECK(read_trainer_state(*latest).seed == 7);
  fs::remove_all(run);
}

TEST_CASE("a checkpoint restores weights and optimiser state exactly", "[cpu]") {
  std::string run = temp_dir("restore");
  policy::Policy pol = make_policy(2);
  const policy::Tokenizer& tok = *pol.tokenizer;
  policy::Transformer m = pol.model;
  LearnerConfig cfg;
  Learner learner(m, cfg);
  // One SFT step so AdamW has moments, then checkpoint.
  TrainBatch b;
  b.tokens = at::randint(3, tok.vocab_size(), {4, 9}, at::kLong);
  b.lengths = at::full({4}, 9, at::kLong);
  b.loss_mask = at::ones({4, 8});
  learner.sft_update(b);
  std::string dir = save_checkpoint(run, pol, &learner, {"sft", 1, 3, {}}, 0);
  // Continue two ways: in memory, and from the checkpoint; the next step must agree exactly.
  learner.sft_update(b);
  policy::Policy p = policy::load_policy(dir, at::kCPU);
  Learner resumed(p.model, cfg);
  resumed.load_optimizer(dir + "/optimizer.pt");
  resumed.set_step(1);
  resumed.sft_update(b);
  auto a = m->parameters(), c = p.model->parameters();
  for (size_t i = 0; i < a.size(); ++i) CHECK(at::equal(a[i], c[i]));
  REQUIRE_THROWS_WITH(read_trainer_state(run), Catch::Contains("trainer_state.json"));
  fs::remove_all(run);
}

TEST_CASE("a checkpoint is a complete Hugging Face directory: generation config, chat template, EOS ids", "[cpu]") {
  std::string run = temp_dir("complete");
  policy::Policy pol = make_policy(3);
  // A source directory with the side files a real checkpoint carries.
  const std::string src = run + "/source";
  fs::create_directories(src);
  std::ofstream(src + "/chat_template.jinja") << "{{ '<|im_start|>' }}";
  pol.source_dir = src;
  pol.eos_ids = {pol.tokenizer->eos_id(), 3};
  std::string dir = save_checkpoint(run, pol, nullptr, {"grpo", 1, 1, {}}, 0);
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                        "generation_config.json", "chat_template.jinja"}) {
    INFO(f);
    CHECK(fs::is_regular_file(dir + "/" + f));
  }
  // No generation_config.json in the source: one is written from the EOS ids, and read back as they were.
  CHECK(policy::read_eos_ids(dir) == std::vector<int64_t>{pol.tokenizer->eos_id(), 3});
  CHECK(policy::read_chat_template_text(dir) == "{{ '<|im_start|>' }}");
  policy::Policy back = policy::load_policy(dir, at::kCPU);
  CHECK(back.eos_ids == pol.eos_ids);
  CHECK(back.model->output_vocab() == pol.tokenizer->vocab_size());
  fs::remove_all(run);
}
