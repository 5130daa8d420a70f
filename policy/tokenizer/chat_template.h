// Chat templates: a conversation rendered to the exact prompt text a model was trained on, byte for byte what its
// Hugging Face Jinja template renders under transformers' apply_chat_template. Hand-written formatters for a fixed
// table of templates, not a Jinja engine; tools and tool calls are refused, not rendered.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace grpo::policy {

struct ChatMessage {
  std::string role;  // "system", "user", "assistant"; any other role is rendered as its template does
  std::string content;
  // The assistant's reasoning, read by qwen3 only. nullopt: absent, and qwen3 then takes it from a "</think>" in
  // content; "" is present-but-empty, which the template treats differently (content is then left unsplit).
  std::optional<std::string> reasoning_content = std::nullopt;
  bool has_tool_calls = false;  // the message carried tool calls; every template refuses it (tools are out of scope)
};

// The templates grpo.cpp reproduces; one `switch` in chat_template.cpp.
enum class ChatTemplate {
  kPlain,       // "plain": no template, the contents concatenated (see render_chat)
  kQwen2,       // "qwen2": Qwen/Qwen2-*-Instruct, ChatML with "You are a helpful assistant." by default
  kQwen25,      // "qwen2.5": Qwen/Qwen2.5-*-Instruct, ChatML with Qwen's default system prompt
  kQwen3,       // "qwen3": Qwen/Qwen3-*, ChatML with <think> blocks after the last user query
  kDeepSeekR1,  // "deepseek-r1": deepseek-ai/DeepSeek-R1-Distill-*, generation prompt opens "<think>\n"
  kLlama3,      // "llama3": meta-llama/Llama-3.1-*-Instruct, header blocks and a dated system header
  kSmolLM2,     // "smollm2": HuggingFaceTB/SmolLM2-*-Instruct, ChatML with SmolLM's default system prompt
};

struct ChatOptions {
  bool add_generation_prompt = true;  // end with the header of an assistant turn for the model to complete
  bool enable_thinking = true;  // qwen3 only: false appends an empty "<think>\n\n</think>\n\n" to the prompt
  std::string date_string = "26 Jul 2024";  // llama3 only: "Today Date: ..." (the template's own default)
};

// "plain", "qwen2", "qwen2.5", "qwen3", "deepseek-r1", "llama3", "smollm2"; anything else throws listing these.
ChatTemplate parse_chat_template(std::string_view name);
std::string_view chat_template_name(ChatTemplate t);

// Renders the conversation as the template does, special tokens as text (the bos token included where the template
// prints it: deepseek-r1, llama3); the tokenizer later matches them as special tokens.
//   plain: the contents of every message in order with nothing between them, whatever the roles; reasoning_content
//          and the options are ignored, so a single user message renders as its content, unchanged.
// Throws grpo::Error naming the template for what the template itself raises on (no messages for qwen2.5, qwen3
// and llama3), and for what grpo.cpp does not support: a message with tool calls, role "tool" (and llama3's
// "ipython"). Unknown roles are rendered as the template does: dropped by qwen2.5, qwen3 and deepseek-r1, given
// their own header by llama3.
std::string render_chat(ChatTemplate t, const std::vector<ChatMessage>& messages, const ChatOptions& opt = {});

// What the template writes after an assistant message's content (ChatML: "<|im_end|>\n", llama3: "<|eot_id|>");
// "" for plain. SFT targets end with it, so a fine-tuned model ends its turn the way the template reads it.
std::string assistant_turn_end(ChatTemplate t);

// The template whose Jinja text this is, recognised by the markers each one prints (Qwen's default system prompt,
// <think> handling, DeepSeek's full-width tokens, Llama-3 headers); nullopt when it is none of ours.
std::optional<ChatTemplate> recognize_chat_template(std::string_view jinja);

// A checkpoint directory's chat template text: tokenizer_config.json's "chat_template" (a string, or the entry named
// "default" of a list), else chat_template.jinja, else chat_template.json; "" when it has none (a base model).
std::string read_chat_template_text(const std::string& dir);

// Messages from OpenAI-style JSON, [{"role": ..., "content": ...}, ...], read as transformers reads them: null
// values count as absent; reasoning is "reasoning_content", else "thinking", else "reasoning"; a non-null
// "tool_calls" sets has_tool_calls. Throws naming the message index for a missing role, or content that is not a
// string (multimodal content parts are not supported).
std::vector<ChatMessage> parse_chat_messages(const nlohmann::json& messages);

}  // namespace grpo::policy
