// The chat template formatters: each function below is one Hugging Face Jinja template transcribed by hand, checked
// byte for byte against transformers' renders (tests/fixtures/tokenizers/chat_templates.json). No Jinja engine: the
// branches on tools, tool calls and tool responses are refused, never rendered.
#include "policy/tokenizer/chat_template.h"

#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

#include "kernels/check.h"

namespace grpo::policy {
namespace {

struct NamedTemplate {
  ChatTemplate t;
  std::string_view name;
};
constexpr NamedTemplate kChatTemplates[] = {
    {ChatTemplate::kPlain, "plain"},           {ChatTemplate::kQwen2, "qwen2"},
    {ChatTemplate::kQwen25, "qwen2.5"},
    {ChatTemplate::kQwen3, "qwen3"},           {ChatTemplate::kDeepSeekR1, "deepseek-r1"},
    {ChatTemplate::kLlama3, "llama3"},          {ChatTemplate::kSmolLM2, "smollm2"},
};

constexpr std::string_view kQwen2DefaultSystem = "You are a helpful assistant.";
constexpr std::string_view kSmolLMDefaultSystem = "You are a helpful AI assistant named SmolLM, trained by Hugging Face";
constexpr std::string_view kQwenDefaultSystem =
    "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.";
constexpr std::string_view kDeepSeekBos = "<｜begin▁of▁sentence｜>";
constexpr std::string_view kDeepSeekEos = "<｜end▁of▁sentence｜>";  // written literally by the template, not eos_token
constexpr std::string_view kLlama3Bos = "<|begin_of_text|>";

// ---- Python string methods the templates call, on UTF-8 bytes -------------------------------------------------

bool contains(std::string_view s, std::string_view sub) { return s.find(sub) != std::string_view::npos; }
bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }
bool ends_with(std::string_view s, std::string_view p) {
  return s.size() >= p.size() && s.substr(s.size() - p.size()) == p;
}

// s.split(sep)[0] and s.split(sep)[-1].
std::string_view before_first(std::string_view s, std::string_view sep) {
  auto at = s.find(sep);
  return at == std::string_view::npos ? s : s.substr(0, at);
}
std::string_view after_last(std::string_view s, std::string_view sep) {
  auto at = s.rfind(sep);
  return at == std::string_view::npos ? s : s.substr(at + sep.size());
}

// s.lstrip('\n'), s.rstrip('\n'), s.strip('\n'): '\n' never occurs inside a multi-byte UTF-8 sequence.
std::string_view lstrip_newlines(std::string_view s) {
  auto at = s.find_first_not_of('\n');
  return at == std::string_view::npos ? std::string_view() : s.substr(at);
}
std::string_view rstrip_newlines(std::string_view s) {
  auto at = s.find_last_not_of('\n');
  return at == std::string_view::npos ? std::string_view() : s.substr(0, at + 1);
}
std::string_view strip_newlines(std::string_view s) { return rstrip_newlines(lstrip_newlines(s)); }

// Python's str.isspace(), which str.strip() and so Jinja's `trim` filter use: ASCII whitespace and the Unicode
// separators, not U+200B or U+FEFF.
bool is_python_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

// The code point of the UTF-8 sequence that starts at s[pos] and is exactly `len` bytes, or -1 when the bytes are
// not one well-formed sequence of that length (such bytes are never whitespace).
long decode_utf8(std::string_view s, size_t pos, size_t len) {
  auto b = static_cast<unsigned char>(s[pos]);
  size_t need = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xE ? 3 : (b >> 3) == 0x1E ? 4 : 0;
  if (need == 0 || need != len || pos + len > s.size()) return -1;
  long cp = need == 1 ? b : b & (0x7F >> need);
  for (size_t i = 1; i < need; ++i) {
    auto c = static_cast<unsigned char>(s[pos + i]);
    if ((c & 0xC0) != 0x80) return -1;
    cp = (cp << 6) | (c & 0x3F);
  }
  constexpr long kMinForLength[] = {0, 0, 0x80, 0x800, 0x10000};
  return cp < kMinForLength[need] ? -1 : cp;
}

size_t utf8_length(unsigned char lead) {
  return lead < 0x80 ? 1 : (lead >> 5) == 0x6 ? 2 : (lead >> 4) == 0xE ? 3 : (lead >> 3) == 0x1E ? 4 : 1;
}

// s.strip() (Jinja's `trim`): Unicode whitespace off both ends.
std::string_view python_strip(std::string_view s) {
  size_t begin = 0, end = s.size();
  while (begin < end) {
    size_t len = utf8_length(static_cast<unsigned char>(s[begin]));
    long cp = begin + len <= end ? decode_utf8(s, begin, len) : -1;
    if (cp < 0 || !is_python_space(static_cast<char32_t>(cp))) break;
    begin += len;
  }
  while (end > begin) {
    size_t start = end - 1;  // back over continuation bytes to the lead byte of the last character
    while (start > begin && end - start < 4 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
    long cp = decode_utf8(s, start, end - start);
    if (cp < 0 || !is_python_space(static_cast<char32_t>(cp))) break;
    end = start;
  }
  return s.substr(begin, end - begin);
}

// ---- checks shared by the templates ----------------------------------------------------------------------------

void check_no_tools(ChatTemplate t, const std::vector<ChatMessage>& messages) {
  for (size_t i = 0; i < messages.size(); ++i) {
    const auto& m = messages[i];
    GRPO_CHECK(!m.has_tool_calls, "chat template '", chat_template_name(t), "': message ", i, " (", m.role,
               ") has tool calls, and tool use is not supported; hint: drop the tool calls or render the prompt "
               "outside grpo.cpp");
    bool tool_role = m.role == "tool" || (t == ChatTemplate::kLlama3 && m.role == "ipython");
    GRPO_CHECK(!tool_role, "chat template '", chat_template_name(t), "': message ", i, " has role \"", m.role,
               "\" (a tool response), and tool use is not supported; hint: drop tool turns from the conversation");
  }
}

void check_not_empty(ChatTemplate t, const std::vector<ChatMessage>& messages) {
  GRPO_CHECK(!messages.empty(), "chat template '", chat_template_name(t),
             "' needs at least one message (the Jinja template reads messages[0] and raises on an empty list); "
             "hint: pass the prompt as a user message");
}

// ---- the templates -----------------------------------------------------------------------------------------------

std::string render_plain(const std::vector<ChatMessage>& messages) {
  std::string out;
  for (const auto& m : messages) out += m.content;
  return out;
}

// ChatML turn: <|im_start|>role\ncontent<|im_end|>\n
void append_chatml(std::string& out, std::string_view role, std::string_view content) {
  out.append("<|im_start|>").append(role).append("\n").append(content).append("<|im_end|>\n");
}

// Qwen/Qwen2-*-Instruct's template (tokenizer_config.json): a system turn (the first message's, or a default), then
// every user turn followed by an assistant header whether or not add_generation_prompt is set; other roles dropped.
std::string render_qwen2(const std::vector<ChatMessage>& messages) {
  check_not_empty(ChatTemplate::kQwen2, messages);
  std::string out;
  append_chatml(out, "system", messages[0].role == "system" ? std::string_view(messages[0].content) : kQwen2DefaultSystem);
  for (const auto& m : messages) {
    if (m.role == "user") {
      append_chatml(out, "user", m.content);
      out += "<|im_start|>assistant\n";
    } else if (m.role == "assistant") {
      out.append(m.content).append("<|im_end|>\n");
    }
  }
  return out;
}

// HuggingFaceTB/SmolLM2-*-Instruct's template: a default system turn unless the first message is a system one, then
// every message (any role) as a ChatML turn. An empty conversation renders nothing (the template never reads
// messages[0] outside its loop).
std::string render_smollm2(const std::vector<ChatMessage>& messages, const ChatOptions& opt) {
  check_no_tools(ChatTemplate::kSmolLM2, messages);
  std::string out;
  for (size_t i = 0; i < messages.size(); ++i) {
    if (i == 0 && messages[0].role != "system") append_chatml(out, "system", kSmolLMDefaultSystem);
    append_chatml(out, messages[i].role, messages[i].content);
  }
  if (opt.add_generation_prompt) out += "<|im_start|>assistant\n";
  return out;
}

// Qwen-Qwen2.5-7B-Instruct.jinja without tools.
std::string render_qwen25(const std::vector<ChatMessage>& messages, const ChatOptions& opt) {
  check_not_empty(ChatTemplate::kQwen25, messages);
  std::string out;
  bool has_system = messages[0].role == "system";
  append_chatml(out, "system", has_system ? std::string_view(messages[0].content) : kQwenDefaultSystem);
  for (size_t i = 0; i < messages.size(); ++i) {
    const auto& m = messages[i];
    // The first system message went into the header; other roles than these three render nothing.
    if (m.role == "user" || (m.role == "system" && i > 0) || m.role == "assistant")
      append_chatml(out, m.role, m.content);
  }
  if (opt.add_generation_prompt) out += "<|im_start|>assistant\n";
  return out;
}

// Qwen-Qwen3-0.6B.jinja without tools.
std::string render_qwen3(const std::vector<ChatMessage>& messages, const ChatOptions& opt) {
  check_not_empty(ChatTemplate::kQwen3, messages);
  std::string out;
  if (messages[0].role == "system") append_chatml(out, "system", messages[0].content);
  // The last user query: the last user message that is not a "<tool_response>...</tool_response>" wrapper.
  size_t n = messages.size(), last_query = n - 1;
  for (size_t k = n; k-- > 0;) {
    const auto& m = messages[k];
    if (m.role == "user" && !(starts_with(m.content, "<tool_response>") && ends_with(m.content, "</tool_response>"))) {
      last_query = k;
      break;
    }
  }
  for (size_t i = 0; i < n; ++i) {
    const auto& m = messages[i];
    if (m.role == "user" || (m.role == "system" && i > 0)) {
      append_chatml(out, m.role, m.content);
    } else if (m.role == "assistant") {
      std::string_view content = m.content, reasoning;
      if (m.reasoning_content) {
        reasoning = *m.reasoning_content;  // NOTE: even "" wins over a </think> in content, as in the template
      } else if (contains(m.content, "</think>")) {
        content = lstrip_newlines(after_last(m.content, "</think>"));
        reasoning = lstrip_newlines(after_last(rstrip_newlines(before_first(m.content, "</think>")), "<think>"));
      }
      out += "<|im_start|>assistant\n";
      // Turns after the last query keep their reasoning (the final turn always gets a <think> block); earlier
      // turns keep only the answer.
      if (i > last_query && (i == n - 1 || !reasoning.empty())) {
        out.append("<think>\n").append(strip_newlines(reasoning)).append("\n</think>\n\n");
        out += lstrip_newlines(content);
      } else {
        out += content;
      }
      out += "<|im_end|>\n";
    }
  }
  if (opt.add_generation_prompt) {
    out += "<|im_start|>assistant\n";
    if (!opt.enable_thinking) out += "<think>\n\n</think>\n\n";
  }
  return out;
}

// deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja without tools.
std::string render_deepseek_r1(const std::vector<ChatMessage>& messages, const ChatOptions& opt) {
  std::string_view system_prompt;  // the last system message, wherever it is
  for (const auto& m : messages)
    if (m.role == "system") system_prompt = m.content;
  std::string out(kDeepSeekBos);
  out += system_prompt;
  for (const auto& m : messages) {
    if (m.role == "user") {
      out.append("<｜User｜>").append(m.content);
    } else if (m.role == "assistant") {
      // Only what follows the last </think> is kept: past reasoning is never shown to the model.
      out.append("<｜Assistant｜>").append(after_last(m.content, "</think>")).append(kDeepSeekEos);
    }
  }
  if (opt.add_generation_prompt) out += "<｜Assistant｜><think>\n";
  return out;
}

// meta-llama-Llama-3.1-8B-Instruct.jinja without tools (no custom_tools, no builtin_tools).
std::string render_llama3(const std::vector<ChatMessage>& messages, const ChatOptions& opt) {
  check_not_empty(ChatTemplate::kLlama3, messages);
  bool has_system = messages[0].role == "system";
  std::string out(kLlama3Bos);
  out += "<|start_header_id|>system<|end_header_id|>\n\n";
  out += "Cutting Knowledge Date: December 2023\n";
  out.append("Today Date: ").append(opt.date_string).append("\n\n");
  if (has_system) out += python_strip(messages[0].content);
  out += "<|eot_id|>";
  for (size_t i = has_system ? 1 : 0; i < messages.size(); ++i) {
    const auto& m = messages[i];
    out.append("<|start_header_id|>").append(m.role).append("<|end_header_id|>\n\n");
    out.append(python_strip(m.content)).append("<|eot_id|>");
  }
  if (opt.add_generation_prompt) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
  return out;
}

}  // namespace

ChatTemplate parse_chat_template(std::string_view name) {
  std::string valid;
  for (const auto& nt : kChatTemplates) {
    if (nt.name == name) return nt.t;
    valid.append(valid.empty() ? "" : ", ").append(nt.name);
  }
  GRPO_FAIL("unknown chat template '", name, "'; hint: use one of ", valid);
}

std::string_view chat_template_name(ChatTemplate t) {
  for (const auto& nt : kChatTemplates)
    if (nt.t == t) return nt.name;
  GRPO_FAIL("invalid ChatTemplate value ", static_cast<int>(t), "; hint: get it from parse_chat_template");
}

std::string render_chat(ChatTemplate t, const std::vector<ChatMessage>& messages, const ChatOptions& opt) {
  check_no_tools(t, messages);
  switch (t) {
    case ChatTemplate::kPlain: return render_plain(messages);
    case ChatTemplate::kQwen2: return render_qwen2(messages);
    case ChatTemplate::kQwen25: return render_qwen25(messages, opt);
    case ChatTemplate::kQwen3: return render_qwen3(messages, opt);
    case ChatTemplate::kDeepSeekR1: return render_deepseek_r1(messages, opt);
    case ChatTemplate::kLlama3: return render_llama3(messages, opt);
    case ChatTemplate::kSmolLM2: return render_smollm2(messages, opt);
  }
  GRPO_FAIL("invalid ChatTemplate value ", static_cast<int>(t), "; hint: get it from parse_chat_template");
}

std::vector<ChatMessage> parse_chat_messages(const nlohmann::json& messages) {
  GRPO_CHECK(messages.is_array(), "chat messages must be a JSON array of {\"role\", \"content\"} objects, got ",
             messages.type_name(), "; hint: wrap a single message in [...]");
  std::vector<ChatMessage> out;
  for (size_t i = 0; i < messages.size(); ++i) {
    const auto& j = messages[i];
    GRPO_CHECK(j.is_object(), "chat message ", i, " is a JSON ", j.type_name(), ", not an object; hint: write "
               "{\"role\": \"user\", \"content\": \"...\"}");
    auto field = [&](const char* key) -> const nlohmann::json* {  // null counts as absent, as in transformers
      auto it = j.find(key);
      return it == j.end() || it->is_null() ? nullptr : &*it;
    };
    ChatMessage m;
    const auto* role = field("role");
    GRPO_CHECK(role && role->is_string(), "chat message ", i, " has no string \"role\"; hint: use \"system\", "
               "\"user\" or \"assistant\"");
    m.role = role->get<std::string>();
    const auto* content = field("content");
    GRPO_CHECK(content && content->is_string(), "chat message ", i, " (", m.role, ") has ",
               content ? std::string("non-string") : std::string("no"), " \"content\"; hint: content must be "
               "text (multimodal content parts are not supported)");
    m.content = content->get<std::string>();
    for (const char* key : {"reasoning_content", "thinking", "reasoning"}) {
      if (const auto* r = field(key)) {
        GRPO_CHECK(r->is_string(), "chat message ", i, " has a non-string \"", key, "\"; hint: reasoning is text");
        m.reasoning_content = r->get<std::string>();
        break;
      }
    }
    m.has_tool_calls = field("tool_calls") != nullptr;
    out.push_back(std::move(m));
  }
  return out;
}

std::string assistant_turn_end(ChatTemplate t) {
  if (t == ChatTemplate::kPlain) return "";
  const std::string marker = "\x01";
  ChatOptions opt;
  opt.add_generation_prompt = false;
  const std::string text = render_chat(t, {{"user", "u"}, {"assistant", marker}}, opt);
  const auto at = text.rfind(marker);
  GRPO_CHECK(at != std::string::npos, "chat template '", chat_template_name(t), "' dropped the assistant message");
  return text.substr(at + marker.size());
}

std::optional<ChatTemplate> recognize_chat_template(std::string_view jinja) {
  if (contains(jinja, "<｜Assistant｜>")) return ChatTemplate::kDeepSeekR1;
  if (contains(jinja, "<|start_header_id|>")) return ChatTemplate::kLlama3;
  if (contains(jinja, "<|im_start|>")) {
    if (contains(jinja, kSmolLMDefaultSystem)) return ChatTemplate::kSmolLM2;
    if (contains(jinja, "<think>") && contains(jinja, "enable_thinking")) return ChatTemplate::kQwen3;
    if (contains(jinja, kQwenDefaultSystem)) return ChatTemplate::kQwen25;
    if (contains(jinja, kQwen2DefaultSystem) && contains(jinja, "set system_message")) return ChatTemplate::kQwen2;
  }
  return std::nullopt;
}

std::string read_chat_template_text(const std::string& dir) {
  auto slurp = [](const std::string& path, std::string* out) {
    std::ifstream in(path, std::ios::binary);
    if (!in.good()) return false;
    std::stringstream ss;
    ss << in.rdbuf();
    *out = ss.str();
    return true;
  };
  std::string text;
  if (slurp(dir + "/tokenizer_config.json", &text)) {
    const nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    GRPO_CHECK(!j.is_discarded(), dir, "/tokenizer_config.json is not valid JSON");
    auto it = j.find("chat_template");
    if (it != j.end() && it->is_string()) return it->get<std::string>();
    if (it != j.end() && it->is_array()) {
      for (const auto& entry : *it) {
        if (entry.is_object() && entry.value("name", "") == "default" && entry.contains("template") &&
            entry["template"].is_string())
          return entry["template"].get<std::string>();
      }
    }
  }
  if (slurp(dir + "/chat_template.jinja", &text)) return text;
  if (slurp(dir + "/chat_template.json", &text)) {
    const nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (j.is_object() && j.contains("chat_template") && j["chat_template"].is_string())
      return j["chat_template"].get<std::string>();
  }
  return "";
}

}  // namespace grpo::policy
