// The pre-tokenizer of byte-level BPE: a sequence of Hugging Face `Split` regexes with Isolated behaviour
// (matches and the gaps between them both become pieces; each regex splits every piece of the previous one),
// run on RE2. RE2 has no lookahead, so the `\s+(?!\S)|\s+` alternative common to GPT-2, Qwen, Llama-3 and
// DeepSeek-V3 is rewritten: RE2 matches `\s+` and the splitter gives the last space of a run that precedes
// a non-space back to the next piece, as the lookahead would. Oniguruma's Unicode `\s` is spelled out.
// Not a general regex translator: other lookarounds are rejected with the pattern named.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace re2 {
class RE2;
}

namespace grpo::policy {

// Regex sets of known models, by the names llama.cpp's GGUF `tokenizer.ggml.pre` uses (and a few aliases):
// gpt-2, smollm, qwen2, llama3 (llama-bpe), deepseek-v3 (deepseek3-llm), deepseek-llm, deepseek-coder.
struct PreTokenizerPreset {
  std::string name;
  bool nfc = false;                   // the tokenizer.json normalizer is NFC (Qwen)
  std::vector<std::string> patterns;  // Isolated splits, in order, as written in tokenizer.json
};
// Throws naming the valid presets.
const PreTokenizerPreset& pre_tokenizer_preset(std::string_view name);
// GPT-2's built-in ByteLevel(use_regex=true) pattern.
const std::string& gpt2_pattern();

class PreTokenizer {
 public:
  // `label` names the file and field in errors.
  PreTokenizer(const std::vector<std::string>& patterns, const std::string& label);
  ~PreTokenizer();
  PreTokenizer(PreTokenizer&&) noexcept;

  // Appends the pieces of `text` to `out` (views into `text`), in order; together they cover `text`.
  void split(std::string_view text, std::vector<std::string_view>& out) const;
  const std::vector<std::string>& patterns() const { return patterns_; }

 private:
  struct Step {
    std::unique_ptr<re2::RE2> re;
    bool give_back_last_space = false;  // the pattern had `\s+(?!\S)|\s+`
    bool newline_runs_separate = false;  // ... after `\s*[\r\n]+`, so a run matched by `\s+` has no CR/LF
  };
  void split_one(const Step& step, std::string_view piece, std::vector<std::string_view>& out) const;

  std::vector<std::string> patterns_;
  std::vector<Step> steps_;
};

// The RE2 form of an Oniguruma pattern (exposed for tests); sets *give_back when the lookahead was removed.
std::string to_re2_pattern(const std::string& onig, bool* give_back, const std::string& label);

}  // namespace grpo::policy
