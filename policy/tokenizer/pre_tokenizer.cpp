// Isolated regex splits on RE2 and the regex sets of known models. See pre_tokenizer.h.
#include "policy/tokenizer/pre_tokenizer.h"

#include <re2/re2.h>

#include "kernels/check.h"
#include "policy/tokenizer/unicode.h"

namespace grpo::policy {
namespace {

// Oniguruma's Unicode \s, as the inside of a character class.
constexpr const char* kSpaceClassBody = R"(\t\n\v\f\r \x{85}\p{Z})";
constexpr const char* kLookahead = R"(\s+(?!\S)|\s+)";

const std::vector<PreTokenizerPreset>& presets() {
  // The patterns are those of the models' tokenizer.json files (llama.cpp quotes the same strings).
  static const std::vector<PreTokenizerPreset> table = {
      {"gpt-2", false, {gpt2_pattern()}},
      // SmolLM/SmolLM2 (llama.cpp's "smollm"): tokenizer.json's Digits(individual_digits) then ByteLevel's GPT-2 regex.
      {"smollm", false, {R"(\p{N})", gpt2_pattern()}},
      {"qwen2", true,
       {R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"}},
      {"llama3", false,
       {R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"}},
      {"deepseek-v3", false,
       {R"(\p{N}{1,3})", "[一-龥぀-ゟ゠-ヿ]+",
        R"([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"}},
      // NOTE: the code points written \x{...} are ones NFC would rewrite (U+1F7D -> U+03CE, U+212A -> K, ...):
      // spelled out so that no editor or copy step can turn a range endpoint into a different character.
      {"deepseek-llm", false,
       {"[\r\n]",
        "\\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-\\x{1F7D}ᾀ-ᾴᾶ-ᾼ\\x{1FBE}ῂ-ῄῆ-ῌῐ-\\x{1FD3}ῖ-\\x{1FDB}ῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤ\\x{2126}ℨ\\x{212A}-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+",
        "\\s?[!-/:-~！-／：-～‘-‟　-。]+", "\\s+$", "[一-龥ࠀ-一가-퟿]+", "\\p{N}+"}},
      {"deepseek-coder", false, {"[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", "[一-龥ࠀ-一가-퟿]+", "\\p{N}"}},
  };
  return table;
}

std::string_view canonical_preset_name(std::string_view name) {
  if (name == "gpt2" || name == "default") return "gpt-2";
  if (name == "llama-bpe" || name == "llama-3") return "llama3";
  if (name == "deepseek3-llm" || name == "deepseek-r1") return "deepseek-v3";
  if (name == "qwen3" || name == "qwen2.5" || name == "deepseek-r1-qwen") return "qwen2";
  return name;
}

}  // namespace

const std::string& gpt2_pattern() {
  static const std::string p = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
  return p;
}

const PreTokenizerPreset& pre_tokenizer_preset(std::string_view name) {
  const std::string_view canon = canonical_preset_name(name);
  std::string names;
  for (const auto& p : presets()) {
    if (p.name == canon) return p;
    names += (names.empty() ? "" : ", ") + p.name;
  }
  GRPO_FAIL("unknown pre-tokenizer '", name, "'; hint: known ones are ", names);
}

std::string to_re2_pattern(const std::string& onig, bool* give_back, const std::string& label) {
  std::string src = onig;
  *give_back = false;
  const size_t la = src.find(kLookahead);
  if (la != std::string::npos) {
    src.erase(la, std::string(R"(\s+(?!\S)|)").size());
    *give_back = true;
  }
  GRPO_CHECK(src.find("(?=") == std::string::npos && src.find("(?!") == std::string::npos &&
                 src.find("(?<") == std::string::npos,
             label, ": pattern ", onig,
             " has a lookaround other than `\\s+(?!\\S)|\\s+`; hint: RE2 cannot run it and no rewrite is known");
  std::string out;
  bool in_class = false;
  for (size_t i = 0; i < src.size(); ++i) {
    const char c = src[i];
    if (c == '\\' && i + 1 < src.size()) {
      const char e = src[i + 1];
      if (e == 's') {
        out += in_class ? kSpaceClassBody : std::string("[") + kSpaceClassBody + "]";
      } else if (e == 'S') {
        GRPO_CHECK(!in_class, label, ": pattern ", onig, " has \\S inside a character class; hint: unsupported");
        out += std::string("[^") + kSpaceClassBody + "]";
      } else {
        out += c;
        out += e;
      }
      ++i;
      continue;
    }
    if (!in_class && c == '[') {
      in_class = true;
      out += c;
      // A ']' or '^]' right after '[' is a literal.
      if (i + 1 < src.size() && src[i + 1] == '^') out += src[++i];
      if (i + 1 < src.size() && src[i + 1] == ']') out += src[++i];
      continue;
    }
    if (in_class && c == ']') in_class = false;
    out += c;
  }
  return out;
}

PreTokenizer::PreTokenizer(const std::vector<std::string>& patterns, const std::string& label) : patterns_(patterns) {
  for (const std::string& p : patterns) {
    Step step;
    const std::string re2_src = to_re2_pattern(p, &step.give_back_last_space, label);
    const size_t newline_alt = p.find(R"(\s*[\r\n]+)");
    step.newline_runs_separate = newline_alt != std::string::npos && newline_alt < p.find(kLookahead);
    RE2::Options opt;
    opt.set_log_errors(false);
    opt.set_max_mem(int64_t{64} << 20);
    step.re = std::make_unique<RE2>(re2_src, opt);
    GRPO_CHECK(step.re->ok(), label, ": cannot compile pattern ", p, ": ", step.re->error(),
               "; hint: the pre-tokenizer regex must be valid Oniguruma/RE2 syntax");
    steps_.push_back(std::move(step));
  }
}

PreTokenizer::~PreTokenizer() = default;
PreTokenizer::PreTokenizer(PreTokenizer&&) noexcept = default;

void PreTokenizer::split_one(const Step& step, std::string_view piece, std::vector<std::string_view>& out) const {
  const RE2& re = *step.re;
  size_t pos = 0, gap = 0;  // next search position; start of the unmatched gap before it
  re2::StringPiece text(piece.data(), piece.size()), m;
  while (pos < piece.size()) {
    // NOTE: try an anchored match first: with the usual patterns every position matches, and an anchored
    // search needs only the forward DFA.
    bool found = re.Match(text, pos, piece.size(), RE2::ANCHOR_START, &m, 1) ||
                 re.Match(text, pos, piece.size(), RE2::UNANCHORED, &m, 1);
    if (!found) break;
    size_t b = static_cast<size_t>(m.data() - piece.data()), e = b + m.size();
    if (e == b) {  // an empty match splits nothing; step over one code point
      pos = b;
      next_code_point(piece, pos);
      continue;
    }
    if (step.give_back_last_space && e < piece.size()) {
      // `\s+(?!\S)`: a run of 2+ spaces followed by a non-space leaves its last space to the next piece.
      // Where `\s*[\r\n]+` comes first (Qwen, Llama-3, DeepSeek-V3), a run with CR/LF was matched by it instead.
      size_t j = e;
      const uint32_t after = next_code_point(piece, j);
      if (!is_unicode_space(after)) {
        size_t k = b, n = 0, last = b;
        bool all_space = true;
        while (k < e) {
          last = k;
          const uint32_t cp = next_code_point(piece, k);
          if (!is_unicode_space(cp) || (step.newline_runs_separate && (cp == '\r' || cp == '\n'))) {
            all_space = false;
            break;
          }
          ++n;
        }
        if (all_space && n > 1) e = last;
      }
    }
    if (b > gap) out.push_back(piece.substr(gap, b - gap));
    out.push_back(piece.substr(b, e - b));
    pos = gap = e;
  }
  if (gap < piece.size()) out.push_back(piece.substr(gap));
}

void PreTokenizer::split(std::string_view text, std::vector<std::string_view>& out) const {
  if (text.empty()) return;
  if (steps_.empty()) {
    out.push_back(text);
    return;
  }
  const size_t first = out.size();
  split_one(steps_[0], text, out);
  std::vector<std::string_view> tmp;
  for (size_t s = 1; s < steps_.size(); ++s) {
    tmp.assign(out.begin() + static_cast<std::ptrdiff_t>(first), out.end());
    out.resize(first);
    for (std::string_view piece : tmp) split_one(steps_[s], piece, out);
  }
}

}  // namespace grpo::policy
