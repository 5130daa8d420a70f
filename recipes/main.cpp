// The `grpo` command: sft | train | eval | help over a recipe file plus key=value overrides; info | convert on
// a checkpoint directory; tokenize on a tokenizer.
// Errors print one line ("grpo: error: ...") and exit 2; an interrupted run exits 130 after checkpointing.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <c10/util/Exception.h>

#include "kernels/check.h"
#include "recipes/model_tools.h"
#include "recipes/recipe.h"
#include "recipes/reward_cmd.h"
#include "recipes/tokenize.h"
#include "rl/trainer.h"

namespace {

constexpr const char* kUsage =
    "usage: grpo <command> RECIPE.toml [key=value ...]\n"
    "commands:\n"
    "  sft    supervised warm start (writes <run.out_dir>/sft)\n"
    "  train  GRPO from the newest SFT checkpoint or model.path (writes <run.out_dir>/grpo)\n"
    "  eval   greedy accuracy on the held-out set; eval.model=sft|grpo|latest|DIR, eval.pass_k=8 for pass@k\n"
    "  help   every recipe key with its type, default and meaning\n"
    "  info   grpo info --model DIR [--load]: architecture, parameters, experts, dtype, tokenizer files\n"
    "  convert  grpo convert --model DIR --out NEW_DIR [--dtype bfloat16] [--shard-mb N]: rewrite a checkpoint\n"
    "  reward   grpo reward --task math|countdown|code --input FILE.jsonl [--output F] [--threads N]: score "
    "completions\n"
    "  tokenize grpo tokenize --tokenizer PATH (--text S | --file F) [--decode] [--pieces]: ids of a text "
    "(grpo tokenize --help)\n"
    "example: grpo train recipes/countdown-tiny.toml rl.group_size=16 run.seed=2\n";

int run(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "--help")) {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const std::string cmd = argv[1];
  grpo::recipes::Recipe recipe;
  if (cmd == "help") {
    std::fputs(recipe.help().c_str(), stdout);
    return 0;
  }
  if (cmd == "info") return grpo::recipes::run_info(argc - 2, argv + 2);
  if (cmd == "convert") return grpo::recipes::run_convert(argc - 2, argv + 2);
  if (cmd == "tokenize") return grpo::recipes::run_tokenize(argc - 2, argv + 2);
  if (cmd == "reward") return grpo::recipes::run_reward(argc - 2, argv + 2);
  GRPO_CHECK(cmd == "sft" || cmd == "train" || cmd == "eval", "unknown command '", cmd,
             "'; hint: grpo sft|train|eval|info|convert|tokenize|reward|help (grpo --help)");
  GRPO_CHECK(argc >= 3, "missing recipe file; hint: grpo ", cmd, " recipes/countdown-tiny.toml");
  std::vector<std::string> overrides(argv + 3, argv + argc);
  recipe.load(argv[2], overrides);
  const std::string toml = recipe.to_toml();
  if (cmd == "sft") return grpo::rl::run_sft(recipe.cfg, toml);
  if (cmd == "train") return grpo::rl::run_grpo(recipe.cfg, toml);
  std::string checkpoint;
  grpo::rl::EvalResult r = grpo::rl::run_eval(recipe.cfg, &checkpoint);
  std::fprintf(stderr, "eval: %s\n", checkpoint.c_str());
  std::printf("accuracy: %.3f (n=%lld)\n", r.accuracy, static_cast<long long>(r.n));
  if (r.k > 0) std::printf("pass@%lld: %.3f (n=%lld)\n", static_cast<long long>(r.k), r.pass_at_k, static_cast<long long>(r.n));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const grpo::Error& e) {
    std::fprintf(stderr, "grpo: error: %s\n", e.what());
  } catch (const c10::Error& e) {
    std::fprintf(stderr, "grpo: error: %s\n", e.what_without_backtrace());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "grpo: error: %s\n", e.what());
  }
  return 2;
}
