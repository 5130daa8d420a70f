// Records -> prompts for a run; see task_data.h.
#include "rl/data/task_data.h"

#include <filesystem>
#include <unordered_set>

#include "kernels/check.h"

namespace grpo::rl::data {

void DataConfig::validate() const {
  GRPO_CHECK(source == "files" || source == "countdown" || source == "arithmetic", "data.source must be \"files\", "
             "\"countdown\" or \"arithmetic\", got '", source, "'");
  if (source == "files") {
    GRPO_CHECK(!train.empty() || !eval.empty(), "data.train and data.eval are both empty; hint: set data.train = "
               "[\"train.jsonl\"] (and data.eval), or data.source = \"countdown\"");
  } else if (source == "countdown") {
    countdown.validate();
  } else {
    arithmetic.validate();
  }
  GRPO_CHECK(eval_size >= 0, "data.eval_size must be >= 0 (0 = all), got ", eval_size);
  // Evaluation sets are named by their files' stems (metrics, completion files, `grpo data export`): one each.
  for (size_t i = 0; i < eval.size(); ++i) {
    const std::string stem = std::filesystem::path(eval[i]).stem().string();
    GRPO_CHECK(stem != "train", "data.eval: ", eval[i], " would be the evaluation set \"train\", the name of the "
               "training records; hint: rename the file");
    for (size_t j = 0; j < i; ++j) {
      GRPO_CHECK(std::filesystem::path(eval[j]).stem().string() != stem, "data.eval: ", eval[j], " and ", eval[i],
                 " would both be the evaluation set \"", stem, "\"; hint: give the files different names");
    }
  }
  GRPO_CHECK(prompt.max_prompt_tokens > 0, "data.max_prompt_tokens must be > 0, got ", prompt.max_prompt_tokens);
  find_preset(prompt.preset);  // throws listing the presets
  if (chat_template != "auto") resolve_chat_template(chat_template, "");  // throws naming the key and the templates
}

policy::ChatTemplate resolve_chat_template(const std::string& setting, const std::string& checkpoint_template_text) {
  if (setting == "auto") {
    if (checkpoint_template_text.empty()) return policy::ChatTemplate::kPlain;
    auto t = policy::recognize_chat_template(checkpoint_template_text);
    GRPO_CHECK(t.has_value(), "data.chat_template = \"auto\": the checkpoint's chat template is not one grpo.cpp "
               "renders; hint: set data.chat_template to plain, qwen2, qwen2.5, qwen3, deepseek-r1 or llama3");
    return *t;
  }
  try {
    return policy::parse_chat_template(setting);
  } catch (const Error& e) {
    GRPO_FAIL("data.chat_template: ", e.what(), " (or auto: the checkpoint's own)");
  }
}

namespace {

RecordSource read_source(const DataConfig& cfg, bool with_train) {
  if (cfg.source == "countdown") return countdown_source(cfg.countdown);
  if (cfg.source == "arithmetic") return arithmetic_source(cfg.arithmetic);
  RecordSource s;
  if (with_train) {
    for (const auto& path : cfg.train) {
      for (auto& r : read_records(path)) s.train.push_back(std::move(r));
    }
  }
  for (const auto& path : cfg.eval) s.eval.push_back({std::filesystem::path(path).stem().string(), read_records(path)});
  return s;
}

}  // namespace

TaskData::TaskData(const DataConfig& cfg, const policy::Tokenizer& tokenizer, policy::ChatTemplate chat,
                   bool with_train)
    : cfg_(cfg), renderer_(cfg.prompt, tokenizer, chat), source_(read_source(cfg, with_train)) {
  const int64_t limit = cfg.prompt.max_prompt_tokens;
  // What was left out of a set, for the report: "(3 dropped: longer than ...; 1 empty)".
  auto left_out = [&](int64_t dropped, int64_t empty) {
    std::string why;
    if (dropped) why += str(dropped, " dropped: longer than data.max_prompt_tokens = ", limit);
    if (empty) why += str(why.empty() ? "" : "; ", empty, " dropped: no tokens");
    return why.empty() ? why : " (" + why + ")";
  };
  std::unordered_set<std::string> train_texts;
  if (with_train) {
    GRPO_CHECK(!source_.train.empty(), "data: no training records; hint: set data.train");
    int64_t dropped = 0, empty = 0;
    for (size_t i = 0; i < source_.train.size(); ++i) {
      rollout::Prompt p = renderer_.render(source_.train[i], static_cast<int64_t>(i));
      const int64_t n = static_cast<int64_t>(p.token_ids.size());
      if (n == 0 || n > limit) {
        ++(n == 0 ? empty : dropped);
        continue;
      }
      longest_prompt_ = std::max(longest_prompt_, n);
      longest_train_prompt_ = std::max(longest_train_prompt_, n);
      train_texts.insert(normalize_text(renderer_.content_text(source_.train[i])));
      train_.push_back(i);
      train_prompts_.push_back(std::move(p));
    }
    GRPO_CHECK(!train_.empty(), "data: none of the ", source_.train.size(), " training prompts is kept",
               left_out(dropped, empty), "; hint: raise data.max_prompt_tokens or check data.train");
    report_.push_back(str("data: ", source_.train.size(), " training records, ", train_.size(), " kept",
                          left_out(dropped, empty)));
  }
  for (const EvalRecords& set : source_.eval) {
    PromptSet ps{set.name, {}};
    int64_t dropped = 0, empty = 0, shared = 0;
    for (const Record& r : set.records) {
      if (cfg.eval_size > 0 && static_cast<int64_t>(ps.prompts.size()) >= cfg.eval_size) break;
      rollout::Prompt p = renderer_.render(r, static_cast<int64_t>(ps.prompts.size()));
      const int64_t n = static_cast<int64_t>(p.token_ids.size());
      if (n == 0 || n > limit) {
        ++(n == 0 ? empty : dropped);
        continue;
      }
      longest_prompt_ = std::max(longest_prompt_, n);
      if (with_train && train_texts.count(normalize_text(renderer_.content_text(r)))) ++shared;
      ps.prompts.push_back(std::move(p));
    }
    GRPO_CHECK(!ps.prompts.empty(), "data: evaluation set '", set.name, "' has no prompt left", left_out(dropped, empty),
               "; hint: raise data.max_prompt_tokens or check data.eval");
    std::string line = str("data: eval set ", set.name, ": ", ps.prompts.size(), " prompts", left_out(dropped, empty));
    if (with_train) {
      line += shared ? str("; WARNING: ", shared, " also in the training set (same normalised text)")
                     : std::string("; none shared with the training set");
    }
    report_.push_back(line);
    eval_.push_back(std::move(ps));
  }
}

void TaskData::check_responses() const {
  if (cfg_.response_field.empty()) {
    GRPO_CHECK(static_cast<bool>(source_.respond), "sft: the training records carry no responses; hint: set "
               "data.response_field to the field holding the target text");
    return;
  }
  for (size_t i : train_) {
    const Record& r = source_.train[i];
    const nlohmann::json* v = find_field(r.fields, cfg_.response_field);
    GRPO_CHECK(v != nullptr && v->is_string(), r.origin, ": no string field '", cfg_.response_field,
               "' (data.response_field)");
  }
}

TaskData::Stream::Stream(const TaskData& data, uint64_t seed) : data_(data), order_(data.train_.size(), seed) {}

rollout::Prompt TaskData::Stream::prompt(int64_t draw) {
  const size_t k = order_.index(draw);
  if (data_.source_.redraw) {
    return data_.renderer_.render(data_.source_.redraw(data_.source_.train[data_.train_[k]], order_.draw_key(draw)),
                                  draw);
  }
  rollout::Prompt p = data_.train_prompts_[k];
  p.id = draw;
  return p;
}

std::string TaskData::Stream::response(int64_t draw, std::mt19937_64& rng) {
  const Record& r = data_.source_.train[data_.train_[order_.index(draw)]];
  if (data_.cfg_.response_field.empty()) {
    GRPO_CHECK(static_cast<bool>(data_.source_.respond), "sft: no responses to train on; hint: set "
               "data.response_field to the field holding the target text");
    return data_.source_.respond(r, rng);
  }
  const nlohmann::json* v = find_field(r.fields, data_.cfg_.response_field);
  GRPO_CHECK(v != nullptr && v->is_string(), r.origin, ": no string field '", data_.cfg_.response_field,
             "' (data.response_field)");
  return v->get<std::string>();
}

}  // namespace grpo::rl::data
