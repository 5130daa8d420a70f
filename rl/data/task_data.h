// A run's data, ready for the loop: records from dataset files or a generator, rendered into prompts for the
// policy's tokenizer and chat template; over-long prompts dropped with a count; evaluation sets checked for prompts
// shared with training; training draws in a seeded order. What the trainer, `grpo data show` and `grpo eval` use.
// No LibTorch and no reward logic.
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "rl/data/arithmetic.h"
#include "rl/data/countdown.h"
#include "rl/data/prompts.h"
#include "rl/data/source.h"

namespace grpo::rl::data {

struct DataConfig {
  std::string source = "files";        // "files": data.train / data.eval; "countdown" / "arithmetic": a generator
  std::vector<std::string> train;      // JSONL or JSON-array files, concatenated
  std::vector<std::string> eval;       // one evaluation set per file
  PromptConfig prompt;                 // preset, fields, template, system prompt, prompt length limit
  std::string chat_template = "auto";  // auto (the checkpoint's; none = plain), plain, qwen2, qwen2.5, qwen3, deepseek-r1, llama3
  std::string response_field;          // SFT target text ("" = the generator's own responses)
  int64_t eval_size = 0;               // the first N prompts of each evaluation set (0 = all)
  CountdownConfig countdown;
  ArithmeticConfig arithmetic;
  void validate() const;
};

// "auto" -> the template of the checkpoint's Jinja text (policy::recognize_chat_template), plain when it has none
// (a base model); any other name parsed. Throws when "auto" meets a template grpo.cpp does not render, or for an
// unknown name, listing the names.
policy::ChatTemplate resolve_chat_template(const std::string& setting, const std::string& checkpoint_template_text);

struct PromptSet {
  std::string name;
  std::vector<rollout::Prompt> prompts;  // ids 0..n-1
};

class TaskData {
 public:
  // Reads (or generates) the records and renders every one. `with_train` = false skips the training records (eval).
  TaskData(const DataConfig& cfg, const policy::Tokenizer& tokenizer, policy::ChatTemplate chat, bool with_train = true);

  size_t train_size() const { return train_.size(); }
  const std::vector<PromptSet>& eval_sets() const { return eval_; }
  // One line per fact worth logging: records read, prompts dropped for length, eval prompts shared with train.
  const std::vector<std::string>& report() const { return report_; }
  const PromptRenderer& renderer() const { return renderer_; }
  // The records as read or generated (before length filtering): for `grpo data export`.
  const std::vector<Record>& train_records() const { return source_.train; }
  const std::vector<EvalRecords>& eval_records() const { return source_.eval; }
  // SFT: throws naming the first kept training record without a response (see Stream::response).
  void check_responses() const;
  int64_t longest_prompt() const { return longest_prompt_; }  // tokens, over every kept prompt (eval included)
  int64_t longest_train_prompt() const { return longest_train_prompt_; }  // tokens, over the kept training prompts

  // Training draws, in epochs of seeded shuffles: prompt(draw) has id = draw.
  class Stream {
   public:
    Stream(const TaskData& data, uint64_t seed);
    rollout::Prompt prompt(int64_t draw);
    // The SFT target text of the record of `draw` (the generator's, or data.response_field). Throws naming the
    // record when it has none.
    std::string response(int64_t draw, std::mt19937_64& rng);

   private:
    const TaskData& data_;
    DrawOrder order_;
  };

 private:
  friend class Stream;
  DataConfig cfg_;
  PromptRenderer renderer_;
  RecordSource source_;
  std::vector<size_t> train_;                   // indices into source_.train of the kept records
  std::vector<rollout::Prompt> train_prompts_;  // rendered, parallel to train_
  std::vector<PromptSet> eval_;
  std::vector<std::string> report_;
  int64_t longest_prompt_ = 0, longest_train_prompt_ = 0;
};

}  // namespace grpo::rl::data
