// grpo generate; see generate.h. Input lines carry "prompt" (text, used as is), "messages" (rendered with the chat
// template) or "prompt_ids" (token ids); each output line has index, sample, completion, token_ids, logprobs and
// finish_reason.
#include "recipes/generate.h"

#include <chrono>
#include <cstdio>
#include <fstream>
#include <optional>
#include <sstream>

#include <ATen/Parallel.h>
#include <nlohmann/json.hpp>

#include "kernels/check.h"
#include "policy/device.h"
#include "policy/tokenizer/chat_template.h"
#include "policy/tokenizer/tokenizer_files.h"
#include "policy/weights.h"
#include "recipes/cli_args.h"
#include "rl/data/dataset.h"
#include "rl/data/task_data.h"
#include "rollout/engine.h"

namespace grpo::recipes {
namespace {

constexpr const char* kUsage =
    "grpo generate --model DIR --prompts FILE.jsonl [--n G] [--temperature T] [--top-p P] [--top-k K] [--min-p M] "
    "[--max-new-tokens N] [--seed S] [--stop STRING]... [--chat-template NAME] [--output OUT.jsonl] [--threads N] "
    "[--device D] [--dtype T]";

constexpr const char* kHelp =
    "  --model DIR          a Hugging Face checkpoint directory (config.json, safetensors, tokenizer)\n"
    "  --prompts FILE       JSONL: each line has \"prompt\" (text, used as is), \"messages\" ([{role, content}],\n"
    "                       rendered with the chat template) or \"prompt_ids\" (token ids)\n"
    "  --n G                completions per prompt (default 1)\n"
    "  --temperature T      0 = greedy (default 1)\n"
    "  --top-p P, --top-k K nucleus and top-k filtering (default off)\n"
    "  --min-p M            drop tokens less likely than M times the most likely (default off)\n"
    "  --max-new-tokens N   token budget per completion (default 256)\n"
    "  --seed S             sampling seed (default 0); a completion depends only on the seed, its prompt's line\n"
    "                       number, its sample index and the weights\n"
    "  --stop STRING        stop string, any length (repeatable); EOS ids always stop\n"
    "  --chat-template NAME for \"messages\": auto (the checkpoint's, default), qwen2, qwen2.5, qwen3, deepseek-r1,\n"
    "                       llama3 or plain (the contents joined)\n"
    "  --output FILE        write the completions here instead of stdout\n"
    "  --device D           cpu (default), cuda or cuda:N (a CUDA LibTorch)\n"
    "  --dtype T            auto (bfloat16 on CUDA, float32 on the CPU; default), float32 or bfloat16\n"
    "output lines: index (the prompt's position in the file, 0-based, blank lines skipped), sample, completion,\n"
    "token_ids, logprobs (log-softmax of the logits divided by\n"
    "the temperature; of the raw logits at temperature 0), finish_reason (stop | length); tokens/s on stderr.\n";

}  // namespace

int run_generate(int argc, char** argv) {
  // --stop may repeat: collect its values before the single-valued parse.
  std::vector<std::string> stops;
  std::vector<char*> rest;
  for (int i = 0; i < argc; ++i) {
    if (std::string(argv[i]) == "--stop") {
      GRPO_CHECK(i + 1 < argc, "grpo generate: --stop needs a value; usage: ", kUsage);
      stops.push_back(argv[++i]);
    } else {
      rest.push_back(argv[i]);
    }
  }
  Args a = parse_args(static_cast<int>(rest.size()), rest.data(), "generate",
                      {"--model", "--prompts", "--n", "--temperature", "--top-p", "--top-k", "--min-p", "--max-new-tokens", "--seed",
                       "--chat-template", "--output", "--threads", "--device", "--dtype"},
                      {}, kUsage, kHelp);
  GRPO_CHECK(a.has("--model") && a.has("--prompts"), "grpo generate: --model and --prompts are required; usage: ",
             kUsage);
  rollout::SamplingConfig sampling;
  sampling.temperature = a.get_number("--temperature", 1.0, "generate");
  sampling.top_p = a.get_number("--top-p", 1.0, "generate");
  sampling.top_k = a.get_integer("--top-k", 0, "generate");
  sampling.min_p = a.get_number("--min-p", 0.0, "generate");
  sampling.max_new_tokens = a.get_count("--max-new-tokens", 256, "generate");
  sampling.seed = static_cast<uint64_t>(a.get_integer("--seed", 0, "generate"));
  try {
    sampling.validate();
  } catch (const Error& e) {
    GRPO_FAIL("grpo generate: ", e.what());
  }
  const int64_t n = a.get_count("--n", 1, "generate");
  const int64_t threads = a.get_count("--threads", 1, "generate");
  at::set_num_threads(static_cast<int>(threads));

  // The prompts: parse every line before loading the model, so bad input fails fast.
  const std::vector<rl::data::Record> records = rl::data::read_records(a.get("--prompts"));
  at::Device device = at::kCPU;
  try {
    device = at::Device(a.get("--device", "cpu"));
  } catch (const c10::Error&) {
    GRPO_FAIL("grpo generate: --device '", a.get("--device"), "' is not a device; use cpu, cuda or cuda:N");
  }
  GRPO_CHECK(!device.is_cuda() || at::hasCUDA(), "grpo generate: --device ", device,
             " but this LibTorch sees no CUDA device; hint: a CUDA LibTorch on a GPU machine, or --device cpu");
  const at::ScalarType dtype = policy::parse_compute_dtype(a.get("--dtype", "auto"), device);
  policy::Policy pol = policy::load_policy(a.get("--model"), device);
  policy::to_compute_dtype(pol.model, dtype);
  // The chat template is resolved only when a line needs one (prompt text and ids never do).
  std::optional<policy::ChatTemplate> chat;
  std::vector<rollout::Prompt> prompts;
  int64_t longest = 0;
  for (size_t i = 0; i < records.size(); ++i) {
    const auto& r = records[i];
    rollout::Prompt p;
    p.id = static_cast<int64_t>(i);
    if (const auto* ids = rl::data::find_field(r.fields, "prompt_ids")) {
      GRPO_CHECK(ids->is_array() && !ids->empty(), r.origin, ": \"prompt_ids\" must be a non-empty list of token ids");
      for (const auto& v : *ids) {
        GRPO_CHECK(v.is_number_integer() && v.get<int64_t>() >= 0 && v.get<int64_t>() < pol.tokenizer->vocab_size(),
                   r.origin, ": \"prompt_ids\" holds ", v.dump(), ", not a token id of this tokenizer (", 
                   pol.tokenizer->vocab_size(), " tokens)");
        p.token_ids.push_back(v.get<int64_t>());
      }
      p.text = pol.tokenizer->decode(p.token_ids);
    } else if (const auto* msgs = rl::data::find_field(r.fields, "messages")) {
      std::vector<policy::ChatMessage> m;
      try {
        m = policy::parse_chat_messages(*msgs);
      } catch (const Error& e) {
        GRPO_FAIL(r.origin, ": \"messages\": ", e.what());
      }
      if (!chat) {
        try {
          chat = rl::data::resolve_chat_template(a.get("--chat-template", "auto"), pol.chat_template_text);
        } catch (const Error& e) {
          GRPO_FAIL(r.origin, ": \"messages\" need a chat template: ", e.what(), " (for this command: "
                    "--chat-template NAME)");
        }
      }
      GRPO_CHECK(*chat != policy::ChatTemplate::kPlain, r.origin, ": \"messages\" need a chat template and ",
                 a.get("--model"), " has none; hint: pass --chat-template NAME, or give \"prompt\" text");
      try {
        p.text = policy::render_chat(*chat, m);
      } catch (const Error& e) {
        GRPO_FAIL(r.origin, ": \"messages\": ", e.what());
      }
      p.token_ids = pol.tokenizer->encode(p.text);
    } else if (const auto* text = rl::data::find_field(r.fields, "prompt")) {
      GRPO_CHECK(text->is_string(), r.origin, ": \"prompt\" must be a string (use \"messages\" for a conversation)");
      p.text = text->get<std::string>();
      p.token_ids = pol.tokenizer->encode_with_bos(p.text);
    } else {
      GRPO_FAIL(r.origin, ": no \"prompt\", \"messages\" or \"prompt_ids\"; hint: each line is a JSON object with one "
                "of them");
    }
    GRPO_CHECK(!p.token_ids.empty(), r.origin, ": the prompt has no tokens");
    longest = std::max<int64_t>(longest, static_cast<int64_t>(p.token_ids.size()));
    prompts.push_back(std::move(p));
  }
  rollout::EngineConfig ec;
  ec.eos_ids = pol.eos_ids;
  ec.stop = stops;
  ec.max_seq_len = longest + sampling.max_new_tokens + 1;
  ec.max_batch = 256;
  ec.dtype = dtype;
  rollout::RolloutEngine engine(pol.model, pol.tokenizer, ec);
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<rollout::Completion> out = engine.generate(prompts, n, sampling);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  std::string text;
  for (const auto& c : out) {
    const nlohmann::json j = {{"index", c.prompt_id},          {"sample", c.sample_index}, {"completion", c.text},
                              {"token_ids", c.token_ids},      {"logprobs", c.logprobs},
                              {"finish_reason", rollout::finish_reason_name(c.finish_reason)}};
    text += j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  }
  if (a.has("--output")) {
    policy::write_text_file(a.get("--output"), text);  // atomic: a failure leaves no partial file
  } else {
    std::fwrite(text.data(), 1, text.size(), stdout);
  }
  const auto& st = engine.last_stats();
  std::fprintf(stderr, "generate: %zu prompts x %lld samples, %lld tokens in %.2f s (%.0f tokens/s)\n", prompts.size(),
               static_cast<long long>(n), static_cast<long long>(st.generated_tokens), secs,
               secs > 0 ? static_cast<double>(st.generated_tokens) / secs : 0.0);
  return 0;
}

}  // namespace grpo::recipes
