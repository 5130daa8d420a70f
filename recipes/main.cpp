// The `grpo` command: sft | train | eval | data | help over a recipe file plus key=value overrides; generate, info,
// convert, init on a checkpoint; tokenize on a tokenizer; reward on a file of completions.
// Errors print one line ("grpo: error: ...") and exit 2; an interrupted run exits 130 after checkpointing.
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <c10/util/Exception.h>

#include "kernels/check.h"
#include "recipes/bench.h"
#include "recipes/launch.h"
#include "recipes/plot.h"
#include "recipes/data_cmd.h"
#include "recipes/generate.h"
#include "recipes/model_tools.h"
#include "recipes/recipe.h"
#include "recipes/reward_cmd.h"
#include "recipes/tokenize.h"
#include "rl/trainer.h"

namespace {

constexpr const char* kUsage =
    "usage: grpo <command> RECIPE.toml [key=value ...]   (grpo <command> --help for each command)\n"
    "commands on a recipe:\n"
    "  sft       supervised fine-tuning on data.response_field (writes <run.out_dir>/sft)\n"
    "  train     GRPO from model.path (writes <run.out_dir>/grpo)\n"
    "  eval      greedy accuracy on every data.eval set; eval.samples=8 adds avg@8, maj@8, pass@8;\n"
    "            eval.model=sft|grpo|latest|model|DIR\n"
    "  data      grpo data show|export RECIPE: the prompts exactly as the model sees them\n"
    "  help      grpo help [RECIPE]: every recipe key with its type, default and meaning (or the recipe's values)\n"
    "commands on files:\n"
    "  generate  grpo generate --model DIR --prompts FILE.jsonl [--n G] [--temperature T] ...: completions\n"
    "  info      grpo info --model DIR [--load]: architecture, parameters, experts, dtype, tokenizer files\n"
    "  convert   grpo convert --model DIR --out NEW_DIR [--dtype bfloat16] [--shard-mb N]: rewrite a checkpoint\n"
    "  init      grpo init --preset tiny-qwen2|CONFIG.json --tokenizer DIR --out NEW_DIR: a fresh random checkpoint\n"
    "  bench     grpo bench decode|learner --model DIR [--device cuda] [--dtype bf16] ...: tokens/s, one JSON line\n"
    "  launch    grpo launch --nproc N -- train RECIPE.toml ...: N data-parallel ranks on this machine (as torchrun)\n"
    "  plot      grpo plot RUN_DIR [RUN_DIR...] [--out FILE.png]: reward, accuracy, length, KL, ... curves in one PNG\n"
    "  reward    grpo reward --task math|countdown|code --input FILE.jsonl [--output F]: score completions\n"
    "  tokenize  grpo tokenize --tokenizer PATH (--text S | --file F) [--decode] [--pieces]: ids of a text\n"
    "example: grpo train recipes/countdown-tiny.toml rl.group_size=16 run.seed=2\n";

const char* recipe_command_help(const std::string& cmd) {
  if (cmd == "sft")
    return "usage: grpo sft RECIPE.toml [key=value ...]\n"
           "Supervised fine-tuning: the loss covers the response tokens only. Starts from model.path (sft.init = model)\n"
           "or a fresh model.preset with model.tokenizer (sft.init = preset); writes <run.out_dir>/sft. Responses come\n"
           "from data.response_field (or the Countdown generator's solver). Keys: grpo help.\n";
  if (cmd == "train")
    return "usage: grpo train RECIPE.toml [key=value ...]\n"
           "GRPO from model.path (a checkpoint directory, or \"sft\" for this run's newest SFT checkpoint); writes\n"
           "<run.out_dir>/grpo: metrics.jsonl, samples.jsonl, log.txt, checkpoints. Ctrl-C checkpoints and exits 130;\n"
           "run.resume=true continues. Keys: grpo help.\n";
  return "usage: grpo eval RECIPE.toml [key=value ...]\n"
         "Evaluates eval.model (sft, grpo, latest, model or a directory) on every data.eval set: greedy accuracy, and\n"
         "with eval.samples=k avg@k (with its bootstrap standard error), maj@k and pass@k at eval.temperature and\n"
         "eval.top_p. Completions with verdicts go to eval.output_dir/<set>.jsonl. The last stdout line of each set is\n"
         "`accuracy: 0.xxx (n=N)`. Keys: grpo help.\n";
}

// run.resume with a changed recipe is refused unless run.allow_config_change=true.
void check_resume(const grpo::recipes::Recipe& recipe, const std::string& phase) {
  const grpo::rl::TrainConfig& cfg = recipe.cfg;
  if (!cfg.run.resume || cfg.run.allow_config_change) return;
  const std::string prev = grpo::rl::latest_config(grpo::rl::phase_dir(cfg, phase));
  if (prev.empty()) return;
  const std::vector<std::string> changed = recipe.changed_keys(prev);
  std::string keys;
  for (const auto& k : changed) keys += (keys.empty() ? "" : ", ") + k;
  GRPO_CHECK(changed.empty(), "run.resume: the recipe differs from the one the run started with (", prev, ") in ",
             keys, "; hint: resume with the same settings, or pass run.allow_config_change=true");
}

void print_eval(const grpo::rl::EvalRun& run) {
  for (const auto& r : run.results) {
    if (run.results.size() > 1) std::printf("set: %s\n", r.name.c_str());
    const long long n = static_cast<long long>(r.n), k = static_cast<long long>(r.k);
    if (r.k > 0) {
      std::printf("avg@%lld: %.3f +- %.3f (n=%lld)\n", k, r.avg_at_k, r.avg_at_k_se, n);
      if (r.maj_at_k >= 0) std::printf("maj@%lld: %.3f (n=%lld)\n", k, r.maj_at_k, n);
      std::printf("pass@%lld: %.3f (n=%lld)\n", k, r.pass_at_k, n);
    }
    std::printf("accuracy: %.3f (n=%lld)\n", r.accuracy, n);
  }
}

int run(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "--help")) {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const std::string cmd = argv[1];
  if (cmd == "info") return grpo::recipes::run_info(argc - 2, argv + 2);
  if (cmd == "convert") return grpo::recipes::run_convert(argc - 2, argv + 2);
  if (cmd == "init") return grpo::recipes::run_init(argc - 2, argv + 2);
  if (cmd == "tokenize") return grpo::recipes::run_tokenize(argc - 2, argv + 2);
  if (cmd == "reward") return grpo::recipes::run_reward(argc - 2, argv + 2);
  if (cmd == "generate") return grpo::recipes::run_generate(argc - 2, argv + 2);
  if (cmd == "data") return grpo::recipes::run_data(argc - 2, argv + 2);
  if (cmd == "bench") return grpo::recipes::run_bench(argc - 2, argv + 2);
  if (cmd == "plot") return grpo::recipes::run_plot(argc - 2, argv + 2);
  if (cmd == "launch") return grpo::recipes::run_launch(argc - 2, argv + 2);
  grpo::recipes::Recipe recipe;
  if (cmd == "help") {
    if (argc >= 3 && std::strcmp(argv[2], "-h") && std::strcmp(argv[2], "--help")) {
      recipe.load(argv[2], std::vector<std::string>(argv + 3, argv + argc));
      std::printf("# %s resolved: every key with its value and meaning\n%s", argv[2], recipe.to_toml().c_str());
      return 0;
    }
    std::printf("# Every recipe key: type, BUILT-IN default, meaning. A recipe file overrides these defaults (the\n"
                "# shipped recipes set many of them); `grpo help RECIPE.toml` shows a recipe's resolved values.\n%s",
                recipe.help().c_str());
    return 0;
  }
  GRPO_CHECK(cmd == "sft" || cmd == "train" || cmd == "eval", "unknown command '", cmd,
             "'; hint: grpo sft|train|eval|data|generate|info|convert|init|bench|plot|launch|tokenize|reward|help (grpo --help)");
  for (int i = 2; i < argc; ++i) {
    if (!std::strcmp(argv[i], "-h") || !std::strcmp(argv[i], "--help")) {
      std::fputs(recipe_command_help(cmd), stdout);
      return 0;
    }
  }
  GRPO_CHECK(argc >= 3, "missing recipe file; hint: grpo ", cmd, " recipes/countdown-tiny.toml");
  std::vector<std::string> overrides(argv + 3, argv + argc);
  recipe.load(argv[2], overrides);
  const std::string toml = recipe.to_toml();
  if (cmd == "sft") {
    check_resume(recipe, "sft");
    return grpo::rl::run_sft(recipe.cfg, toml);
  }
  if (cmd == "train") {
    check_resume(recipe, "grpo");
    return grpo::rl::run_grpo(recipe.cfg, toml);
  }
  grpo::rl::EvalRun r = grpo::rl::run_eval(recipe.cfg);
  std::fprintf(stderr, "eval: %s; completions in %s\n", r.checkpoint.c_str(), r.output_dir.c_str());
  print_eval(r);
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
