// From dataset records to the prompts a model sees: the named presets for the formats users have (GSM8K, MATH,
// HumanEval, Countdown, TRL's and verl's layouts), the field roles (prompt, answer, meta), the optional {field}
// template and system prompt, the chat template, and tokenization. No LibTorch; no reward logic (the verifier
// reads the meta built here).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "policy/tokenizer/chat_template.h"
#include "policy/tokenizer/tokenizer.h"
#include "rl/data/dataset.h"
#include "rollout/types.h"

namespace grpo::rl::data {

// How the gold answer is read from the answer field.
enum class AnswerForm {
  as_is,         // the field's value (a string, or a number written as text)
  after_hashes,  // GSM8K: the text after the last "####", thousands separators removed
  last_boxed,    // a worked solution (TRL's "solution"): the content of its last \boxed{}; the field as is without one
};

// The field roles of a known dataset layout. One row per name in prompts.cpp (an explicit table).
struct Preset {
  std::string name;             // "" is the generic layout: prompt / answer
  std::string prompt_field;     // a string, or chat messages [{role, content}]
  std::string answer_field;     // "" = the records carry no gold answer (code tests, Countdown numbers)
  AnswerForm answer_form = AnswerForm::as_is;
  bool raw_string_prompts = false;  // TRL: a string prompt is used as is, without the chat template
  std::string prompt_template;  // default data.template ("" = the prompt field itself)
  // Field aliases: a record without `first` but with `second` gets `first` = its value, for the template and the
  // meta alike (HumanEval: tests <- test, for the code verifier; TinyZero's Countdown files: numbers <- nums).
  std::vector<std::pair<std::string, std::string>> aliases;
};

// The preset named `name` ("" = generic). Throws listing the known names.
const Preset& find_preset(const std::string& name);
std::vector<std::string> preset_names();

// What a recipe says about prompts (the `data.*` keys that shape them).
struct PromptConfig {
  std::string preset;           // "", "gsm8k", "math", "humaneval", "countdown", "trl", "verl"
  std::string prompt_field;     // "" = the preset's
  std::string answer_field;     // "" = the preset's; "none" = no gold answer
  std::string prompt_template;  // "{question}\nLet's think step by step ..." ; "" = the preset's
  std::string system_prompt;    // "" = none
  int64_t max_prompt_tokens = 1024;  // longer prompts are dropped (counted), never truncated
};

// Renders records into prompts for one tokenizer and chat template.
class PromptRenderer {
 public:
  // `chat`: the chat template to render string prompts and messages with (kPlain: none, for base models).
  PromptRenderer(const PromptConfig& cfg, const policy::Tokenizer& tokenizer, policy::ChatTemplate chat);

  // The prompt of a record: text (what the model sees), token ids, meta for the verifier (every field, nested
  // ones also under dotted keys, and "answer" = the gold answer). Throws one line naming the record's origin and
  // the field for a missing prompt or answer, a bad template placeholder or malformed messages.
  rollout::Prompt render(const Record& r, int64_t id) const;
  // The content before any chat template (the template applied to the fields, or the prompt field's text; the
  // message contents for chat prompts): what duplicate detection hashes.
  std::string content_text(const Record& r) const;

  const Preset& preset() const { return preset_; }
  const std::string& prompt_field() const { return prompt_field_; }
  const std::string& answer_field() const { return answer_field_; }  // "" when none
  policy::ChatTemplate chat_template() const { return chat_; }

 private:
  std::vector<policy::ChatMessage> messages(const Record& r) const;  // system + user, or the record's messages
  Record with_aliases(const Record& r) const;
  PromptConfig cfg_;
  const policy::Tokenizer& tokenizer_;
  policy::ChatTemplate chat_;
  const Preset& preset_;
  std::string prompt_field_, answer_field_, template_;
};

// "{question} ... \boxed{}" with each {field} (dotted paths allowed) replaced by the record's value: strings as
// they are, numbers as written, arrays in Python's list style "[19, 36, 55, 7]". `{{` and `}}` are literal braces;
// a brace not around a field name (\boxed{}) is kept as is. Throws naming `origin` for a missing field.
std::string fill_template(const std::string& tmpl, const nlohmann::json& fields, const std::string& origin);

// The gold answer of a GSM8K solution: the text after the last "####", trimmed, commas removed; "" when absent.
std::string gsm8k_answer(const std::string& solution);
// The content of the last \boxed{...} (nested braces matched); nullopt when there is none or it is not closed.
std::optional<std::string> last_boxed(const std::string& text);

}  // namespace grpo::rl::data
