// grpo data show | export; see data_cmd.h.
#include "recipes/data_cmd.h"

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "kernels/check.h"
#include "policy/tokenizer/tokenizer_files.h"
#include "recipes/cli_args.h"
#include "recipes/recipe.h"
#include "rl/data/task_data.h"

namespace grpo::recipes {
namespace {

constexpr const char* kUsage =
    "grpo data show RECIPE.toml [key=value ...] [--n N]   |   grpo data export RECIPE.toml --out DIR [key=value ...]";
constexpr const char* kHelp =
    "  show    the first N (default 3) training prompts and the first of each evaluation set as the model sees them:\n"
    "          the rendered text (chat template included), its token count and the meta the verifier gets\n"
    "  export  every training record and evaluation set as JSONL in DIR (train.jsonl, <set>.jsonl), e.g. to keep\n"
    "          the Countdown generator's problems as a file\n"
    "The tokenizer is model.path's (for model.path = sft, the newest SFT checkpoint), else model.tokenizer's.\n";

void show_prompt(const char* label, const rollout::Prompt& p) {
  const nlohmann::json meta(p.meta);
  std::printf("--- %s (%zu tokens) ---\n%s\n--- meta: %s\n", label, p.token_ids.size(), p.text.c_str(),
              meta.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
}

}  // namespace

int run_data(int argc, char** argv) {
  if (argc < 1 || !std::strcmp(argv[0], "-h") || !std::strcmp(argv[0], "--help")) {
    std::printf("usage: %s\n%s", kUsage, kHelp);
    return argc < 1 ? 2 : 0;
  }
  const std::string action = argv[0];
  GRPO_CHECK(action == "show" || action == "export", "grpo data: unknown action '", action, "'; usage: ", kUsage);
  std::vector<std::string> overrides;
  std::string recipe_path, out_dir;
  int64_t n = 3;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      std::printf("usage: %s\n%s", kUsage, kHelp);
      return 0;
    }
    if (a == "--n" || a == "--out") {
      GRPO_CHECK(i + 1 < argc, "grpo data: ", a, " needs a value; usage: ", kUsage);
      const std::string v = argv[++i];
      if (a == "--out") {
        out_dir = v;
      } else {
        Args flag;
        flag.values["--n"] = v;
        n = flag.get_integer("--n", n, "data");
      }
    } else if (recipe_path.empty() && a.find('=') == std::string::npos) {
      recipe_path = a;
    } else {
      overrides.push_back(a);
    }
  }
  GRPO_CHECK(!recipe_path.empty(), "grpo data: missing recipe file; usage: ", kUsage);
  GRPO_CHECK(action == "show" || !out_dir.empty(), "grpo data export: --out DIR is required; usage: ", kUsage);
  Recipe recipe;
  recipe.load(recipe_path, overrides);
  const rl::TrainConfig& cfg = recipe.cfg;
  rl::PromptTokenizer tok = rl::prompt_tokenizer(cfg);
  const policy::ChatTemplate chat = rl::data::resolve_chat_template(cfg.data.chat_template, tok.chat_template_text);
  const bool with_train = cfg.data.source != "files" || !cfg.data.train.empty();
  rl::data::TaskData data(cfg.data, *tok.tokenizer, chat, with_train);
  std::fprintf(stderr, "data: tokenizer from %s; chat template %s\n", tok.from.c_str(),
               std::string(policy::chat_template_name(chat)).c_str());
  for (const auto& line : data.report()) std::fprintf(stderr, "%s\n", line.c_str());
  if (action == "show") {
    if (with_train) {
      // The draws `grpo train` makes first, in its order.
      rl::data::TaskData::Stream stream(data, rl::stream_seed(cfg, "grpo"));
      for (int64_t i = 0; i < n && i < static_cast<int64_t>(data.train_size()); ++i) {
        show_prompt(str("grpo draw ", i).c_str(), stream.prompt(i));
      }
    }
    for (const auto& set : data.eval_sets()) show_prompt(str("eval ", set.name, " [0]").c_str(), set.prompts.front());
    return 0;
  }
  std::filesystem::create_directories(out_dir);
  auto write = [&](const std::string& name, const std::vector<rl::data::Record>& records) {
    const std::string path = out_dir + "/" + name + ".jsonl";
    std::string text;
    for (const auto& r : records) text += r.fields.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    policy::write_text_file(path, text);  // atomic: a failure leaves no partial file
    std::fprintf(stderr, "wrote %s (%zu records)\n", path.c_str(), records.size());
  };
  if (with_train) write("train", data.train_records());
  for (const auto& set : data.eval_records()) write(set.name, set.records);
  return 0;
}

}  // namespace grpo::recipes
