// Presets, templates and prompt rendering; see prompts.h.
#include "rl/data/prompts.h"

#include <cctype>

#include "kernels/check.h"
#include "rewards/meta.h"
#include "rewards/score.h"

namespace grpo::rl::data {

namespace {

// TinyZero's Countdown question (TinyZero examples/data_preprocess/countdown.py, the user part of its prompt).
constexpr const char* kCountdownQuestion =
    "Using the numbers {numbers}, create an equation that equals {target}. You can use basic arithmetic operations "
    "(+, -, *, /) and each number can only be used once. Show your work in <think> </think> tags. And return the "
    "final answer in <answer> </answer> tags, for example <answer> (1 + 2) / 3 </answer>.";

const std::vector<Preset>& presets() {
  static const std::vector<Preset> table = {
      {"", "prompt", "answer", AnswerForm::as_is, false, "", {}},
      {"gsm8k", "question", "answer", AnswerForm::after_hashes, false, "", {}},
      {"math", "problem", "answer", AnswerForm::as_is, false, "", {}},
      {"humaneval", "prompt", "", AnswerForm::as_is, false, "", {{"tests", "test"}}},
      {"countdown", "", "", AnswerForm::as_is, false, kCountdownQuestion, {{"numbers", "nums"}}},
      {"trl", "prompt", "solution", AnswerForm::last_boxed, true, "", {}},
      {"verl", "prompt", "reward_model.ground_truth", AnswerForm::as_is, false, "", {}},
  };
  return table;
}

// A JSON value as template text: strings unquoted, numbers as written, lists as Python prints them.
std::string python_text(const nlohmann::json& v, bool top) {
  if (v.is_string()) return top ? v.get<std::string>() : "'" + v.get<std::string>() + "'";
  if (v.is_array()) {
    std::string s = "[";
    for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + python_text(v[i], false);
    return s + "]";
  }
  if (v.is_boolean()) return v.get<bool>() ? "True" : "False";
  if (v.is_null()) return "None";
  return v.dump();
}

bool is_name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.'; }

// Every field into meta (rewards::meta_from_json's text form); objects also spread to dotted keys.
void add_meta(rewards::Meta& meta, const std::string& key, const nlohmann::json& v) {
  if (auto text = rewards::meta_from_json(v)) meta[key] = *text;
  if (v.is_object()) {
    for (auto it = v.begin(); it != v.end(); ++it) add_meta(meta, key + "." + it.key(), it.value());
  }
}

std::string trim(std::string s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

}  // namespace

const Preset& find_preset(const std::string& name) {
  for (const Preset& p : presets()) {
    if (p.name == name) return p;
  }
  std::string known;
  for (const auto& n : preset_names()) known += (known.empty() ? "" : ", ") + n;
  GRPO_FAIL("unknown data.preset '", name, "'; known presets: ", known, " (or \"\" for prompt/answer fields)");
}

std::vector<std::string> preset_names() {
  std::vector<std::string> out;
  for (const Preset& p : presets()) {
    if (!p.name.empty()) out.push_back(p.name);
  }
  return out;
}

std::string gsm8k_answer(const std::string& solution) {
  const auto at = solution.rfind("####");
  if (at == std::string::npos) return "";
  std::string out;
  for (char c : trim(solution.substr(at + 4))) {
    if (c != ',') out += c;
  }
  return out;
}

std::optional<std::string> last_boxed(const std::string& text) {
  const auto at = text.rfind("\\boxed{");
  if (at == std::string::npos) return std::nullopt;
  int depth = 0;
  const size_t open = at + 6;  // the '{'
  for (size_t i = open; i < text.size(); ++i) {
    if (text[i] == '{') ++depth;
    if (text[i] == '}' && --depth == 0) return text.substr(open + 1, i - open - 1);
  }
  return std::nullopt;
}

std::string fill_template(const std::string& tmpl, const nlohmann::json& fields, const std::string& origin) {
  std::string out;
  for (size_t i = 0; i < tmpl.size(); ++i) {
    const char c = tmpl[i];
    if ((c == '{' || c == '}') && i + 1 < tmpl.size() && tmpl[i + 1] == c) {
      out += c;  // {{ or }}
      ++i;
      continue;
    }
    if (c == '{') {
      size_t end = i + 1;
      while (end < tmpl.size() && is_name_char(tmpl[end])) ++end;
      if (end > i + 1 && end < tmpl.size() && tmpl[end] == '}') {
        const std::string name = tmpl.substr(i + 1, end - i - 1);
        const nlohmann::json* v = find_field(fields, name);
        GRPO_CHECK(v != nullptr, origin, ": data.template uses {", name, "} but the record has no field '", name,
                   "'; hint: fix the field name, or write {{", name, "}} for literal braces");
        out += python_text(*v, true);
        i = end;
        continue;
      }
    }
    out += c;
  }
  return out;
}

PromptRenderer::PromptRenderer(const PromptConfig& cfg, const policy::Tokenizer& tokenizer, policy::ChatTemplate chat)
    : cfg_(cfg), tokenizer_(tokenizer), chat_(chat), preset_(find_preset(cfg.preset)) {
  prompt_field_ = cfg.prompt_field.empty() ? preset_.prompt_field : cfg.prompt_field;
  answer_field_ = cfg.answer_field.empty() ? preset_.answer_field : cfg.answer_field;
  if (answer_field_ == "none") answer_field_.clear();
  template_ = cfg.prompt_template.empty() ? preset_.prompt_template : cfg.prompt_template;
  GRPO_CHECK(!prompt_field_.empty() || !template_.empty(), "data: preset '", preset_.name, "' builds prompts from a "
             "template; hint: set data.template (e.g. \"{question}\") or data.prompt_field");
  GRPO_CHECK(cfg.max_prompt_tokens > 0, "data.max_prompt_tokens must be > 0, got ", cfg.max_prompt_tokens);
}

Record PromptRenderer::with_aliases(const Record& r) const {
  Record out = r;
  for (const auto& [key, from] : preset_.aliases) {
    if (out.fields.contains(key)) continue;
    if (const nlohmann::json* v = find_field(r.fields, from)) out.fields[key] = *v;
  }
  return out;
}

std::string PromptRenderer::content_text(const Record& record) const {
  const Record r = with_aliases(record);
  std::string text;
  for (const auto& m : messages(r)) {
    if (m.role != "system") text += m.content + "\n";
  }
  return text;
}

std::vector<policy::ChatMessage> PromptRenderer::messages(const Record& r) const {
  std::vector<policy::ChatMessage> out;
  if (!cfg_.system_prompt.empty()) out.push_back({"system", cfg_.system_prompt});
  if (!template_.empty()) {
    out.push_back({"user", fill_template(template_, r.fields, r.origin)});
    return out;
  }
  const nlohmann::json* v = find_field(r.fields, prompt_field_);
  GRPO_CHECK(v != nullptr, r.origin, ": no field '", prompt_field_, "' (data.prompt_field",
             preset_.name.empty() ? "" : "; preset " + preset_.name, "); hint: set data.prompt_field to the field "
             "holding the prompt");
  if (v->is_string()) {
    out.push_back({"user", v->get<std::string>()});
    return out;
  }
  GRPO_CHECK(v->is_array(), r.origin, ": field '", prompt_field_, "' must be a string or a list of chat messages "
             "[{\"role\": ..., \"content\": ...}], got ", v->type_name());
  std::vector<policy::ChatMessage> parsed;
  try {
    parsed = policy::parse_chat_messages(*v);
  } catch (const Error& e) {
    GRPO_FAIL(r.origin, ": field '", prompt_field_, "': ", e.what());
  }
  GRPO_CHECK(!parsed.empty(), r.origin, ": field '", prompt_field_, "' holds no messages");
  const bool has_system = parsed.front().role == "system";
  if (has_system) out.clear();  // the record's own system message wins over data.system_prompt
  for (auto& m : parsed) out.push_back(std::move(m));
  return out;
}

rollout::Prompt PromptRenderer::render(const Record& record, int64_t id) const {
  Record aliased;
  const Record& r = preset_.aliases.empty() ? record : (aliased = with_aliases(record));
  rollout::Prompt p;
  p.id = id;
  std::vector<policy::ChatMessage> msgs = messages(r);
  const nlohmann::json* field = template_.empty() ? find_field(r.fields, prompt_field_) : nullptr;
  const bool chat_messages = field != nullptr && field->is_array();
  const bool raw = chat_ == policy::ChatTemplate::kPlain || (preset_.raw_string_prompts && !chat_messages);
  if (raw) {
    // Without a chat template a prompt is one text: the system prompt (if any), a blank line, then the user text. The
    // tokenizer adds BOS where the model expects one (Hugging Face's add_special_tokens=True), as TRL does for
    // plain-text prompts.
    size_t n_user = 0;
    for (const auto& m : msgs) {
      if (m.role == "system") {
        p.text += m.content + "\n\n";
      } else {
        p.text += m.content;
        ++n_user;
      }
    }
    GRPO_CHECK(n_user == 1, r.origin, ": field '", prompt_field_, "' holds a conversation of ", n_user,
               " turns, and without a chat template a prompt is one text; hint: set data.chat_template to the "
               "model's template");
    p.token_ids = tokenizer_.encode_with_bos(p.text);
  } else {
    try {
      p.text = policy::render_chat(chat_, msgs);
    } catch (const Error& e) {
      GRPO_FAIL(r.origin, ": ", e.what());
    }
    p.token_ids = tokenizer_.encode(p.text);  // the template writes BOS itself where the model has one
  }
  for (auto it = r.fields.begin(); it != r.fields.end(); ++it) add_meta(p.meta, it.key(), it.value());
  if (!answer_field_.empty()) {
    const nlohmann::json* a = find_field(r.fields, answer_field_);
    GRPO_CHECK(a != nullptr, r.origin, ": no field '", answer_field_, "' (data.answer_field",
               preset_.name.empty() ? "" : "; preset " + preset_.name, "); hint: set data.answer_field, or \"none\" "
               "when the reward needs no gold answer");
    std::optional<std::string> text = rewards::meta_from_json(*a);
    GRPO_CHECK(text && (a->is_string() || a->is_number()), r.origin, ": field '", answer_field_,
               "' must be a string or a number, got ", a->type_name());
    if (preset_.answer_form == AnswerForm::after_hashes) {
      const std::string gold = gsm8k_answer(*text);
      GRPO_CHECK(!gold.empty(), r.origin, ": field '", answer_field_, "' has no \"#### <answer>\" line (GSM8K "
                 "format); hint: use data.preset = \"math\" for plain answers");
      text = gold;
    } else if (preset_.answer_form == AnswerForm::last_boxed) {
      if (auto boxed = last_boxed(*text)) text = *boxed;
    }
    p.meta["answer"] = *text;
  }
  return p;
}

}  // namespace grpo::rl::data
