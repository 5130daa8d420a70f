// CharTokenizer: encode/decode and the tokenizer.json form it is saved in.
#include "policy/tokenizer/char_tokenizer.h"

#include <nlohmann/json.hpp>

#include "kernels/check.h"
#include "policy/tokenizer/tokenizer_files.h"

namespace grpo::policy {

using nlohmann::json;

namespace {
// The one-character pre-tokenizer pattern written into tokenizer.json; `[\s\S]` also matches newlines.
constexpr const char* kSplitPattern = "[\\s\\S]";
const std::vector<std::string> kBaseSpecials = {"<pad>", "<eos>", "<unk>"};
}  // namespace

std::vector<std::string> CharTokenizer::default_extra_specials() {
  return {"<think>", "</think>", "<answer>", "</answer>"};
}

std::string CharTokenizer::default_alphabet() {
  std::string a = "\n";
  for (char c = ' '; c <= '~'; ++c) a.push_back(c);
  return a;
}

CharTokenizer::CharTokenizer(const std::vector<std::string>& extra_specials, const std::string& alphabet) {
  for (auto& c : char_to_id_) c = -1;
  for (const auto& s : kBaseSpecials) tokens_.push_back(s);
  for (const auto& s : extra_specials) {
    GRPO_CHECK(s.size() >= 2, "special token '", s, "' must be at least two characters long");
    tokens_.push_back(s);
  }
  n_special_ = tokens_.size();
  for (size_t i = 0; i < n_special_; ++i) {
    GRPO_CHECK(special_to_id_.emplace(tokens_[i], static_cast<int64_t>(i)).second, "special token '", tokens_[i],
               "' is listed twice");
  }
  for (unsigned char ch : alphabet) {
    GRPO_CHECK(char_to_id_[ch] < 0, "character '", static_cast<char>(ch), "' appears twice in the alphabet");
    char_to_id_[ch] = static_cast<int64_t>(tokens_.size());
    tokens_.emplace_back(1, static_cast<char>(ch));
  }
}

std::vector<int64_t> CharTokenizer::encode(std::string_view text) const {
  std::vector<int64_t> ids;
  ids.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] == '<') {
      // Longest special token starting here.
      size_t best_len = 0;
      int64_t best_id = -1;
      for (size_t s = 0; s < n_special_; ++s) {
        const std::string& tok = tokens_[s];
        if (tok.size() > best_len && text.compare(i, tok.size(), tok) == 0) {
          best_len = tok.size();
          best_id = static_cast<int64_t>(s);
        }
      }
      if (best_id >= 0) {
        ids.push_back(best_id);
        i += best_len;
        continue;
      }
    }
    const unsigned char c = static_cast<unsigned char>(text[i]);
    const int64_t id = char_to_id_[c];
    ids.push_back(id >= 0 ? id : unk_id());
    ++i;
    if (id < 0 && c >= 0xC0) {
      // NOTE: an unknown character is one <unk>, as the `tokenizers` library reads the saved tokenizer.json (it
      // splits characters, not bytes): skip the continuation bytes of a multi-byte UTF-8 sequence.
      const size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
      for (size_t k = 1; k < len && i < text.size() && (static_cast<unsigned char>(text[i]) & 0xC0) == 0x80; ++k) ++i;
    }
  }
  return ids;
}

std::string CharTokenizer::decode(const std::vector<int64_t>& ids) const {
  std::string out;
  for (int64_t id : ids) {
    GRPO_CHECK(id >= 0 && id < vocab_size(), "token id ", id, " is outside the vocabulary [0, ", vocab_size(), ")");
    out += tokens_[static_cast<size_t>(id)];
  }
  return out;
}

std::string CharTokenizer::id_to_token(int64_t id) const {
  GRPO_CHECK(id >= 0 && id < vocab_size(), "token id ", id, " is outside the vocabulary of ", vocab_size());
  return tokens_[static_cast<size_t>(id)];
}

std::string CharTokenizer::describe() const {
  return str("character tokenizer, ", vocab_size(), " tokens (", n_special_, " special)");
}

int64_t CharTokenizer::token_to_id(std::string_view token) const {
  auto it = special_to_id_.find(std::string(token));
  if (it != special_to_id_.end()) return it->second;
  if (token.size() == 1) return char_to_id_[static_cast<unsigned char>(token[0])];
  return -1;
}

void CharTokenizer::save(const std::string& dir) const {
  json added = json::array();
  for (size_t i = 0; i < n_special_; ++i) {
    added.push_back({{"id", i},
                     {"content", tokens_[i]},
                     {"single_word", false},
                     {"lstrip", false},
                     {"rstrip", false},
                     {"normalized", false},
                     {"special", true}});
  }
  json vocab = json::object();
  for (size_t i = 0; i < tokens_.size(); ++i) vocab[tokens_[i]] = i;
  json tok = {{"version", "1.0"},
              {"truncation", nullptr},
              {"padding", nullptr},
              {"added_tokens", added},
              {"normalizer", nullptr},
              {"pre_tokenizer",
               {{"type", "Split"}, {"pattern", {{"Regex", kSplitPattern}}}, {"behavior", "Isolated"},
                {"invert", false}}},
              {"post_processor", nullptr},
              {"decoder", {{"type", "Fuse"}}},
              {"model", {{"type", "WordLevel"}, {"vocab", vocab}, {"unk_token", tokens_[unk_id()]}}}};
  json cfg = {{"tokenizer_class", "PreTrainedTokenizerFast"},
              {"model_max_length", 1 << 20},
              {"pad_token", tokens_[pad_id()]},
              {"eos_token", tokens_[eos_id()]},
              {"unk_token", tokens_[unk_id()]},
              {"clean_up_tokenization_spaces", false}};
  for (auto [name, value] : {std::pair{"tokenizer.json", tok.dump(1)}, std::pair{"tokenizer_config.json", cfg.dump(2)}}) {
    write_text_file(dir + "/" + name, value + "\n");
  }
}

std::unique_ptr<CharTokenizer> CharTokenizer::from_json(const std::string& json_text, const std::string& label) {
  json j;
  try {
    j = json::parse(json_text);
  } catch (const json::parse_error& e) {
    GRPO_FAIL(label, ": invalid JSON (", e.what(), ")");
  }
  GRPO_CHECK(j.is_object() && j.contains("model") && j["model"].is_object(), label, ": missing field 'model'");
  const json& model = j["model"];
  GRPO_CHECK(model.value("type", "") == "WordLevel" && model.contains("vocab") && model["vocab"].is_object(), label,
             ": field 'model' is not a WordLevel model with a vocab");
  const json& pre = j.value("pre_tokenizer", json());
  GRPO_CHECK(pre.is_object() && pre.value("type", "") == "Split" && pre.contains("pattern") &&
                 pre["pattern"].is_object() && pre["pattern"].value("Regex", "") == kSplitPattern,
             label, ": field 'pre_tokenizer' is not the one-character split of a character tokenizer");
  const json& vocab = model["vocab"];
  std::vector<std::string> by_id(vocab.size());
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    GRPO_CHECK(it.value().is_number_integer(), label, ": model.vocab['", it.key(), "'] is not an integer id");
    int64_t id = it.value().get<int64_t>();
    GRPO_CHECK(id >= 0 && id < static_cast<int64_t>(by_id.size()) && by_id[static_cast<size_t>(id)].empty(), label,
               ": model.vocab ids must be 0..", by_id.size() - 1, " without repeats; bad id ", id);
    by_id[static_cast<size_t>(id)] = it.key();
  }
  GRPO_CHECK(j.contains("added_tokens") && j["added_tokens"].is_array(), label, ": missing field 'added_tokens'");
  size_t n_special = j["added_tokens"].size();
  GRPO_CHECK(n_special >= kBaseSpecials.size() && n_special <= by_id.size(), label,
             ": field 'added_tokens' must list the special tokens first in the vocabulary");
  for (size_t i = 0; i < kBaseSpecials.size(); ++i) {
    GRPO_CHECK(by_id[i] == kBaseSpecials[i], label, ": token ", i, " must be ", kBaseSpecials[i], ", got '",
               by_id[i], "'");
  }
  std::vector<std::string> extra(by_id.begin() + static_cast<long>(kBaseSpecials.size()),
                                 by_id.begin() + static_cast<long>(n_special));
  std::string alphabet;
  for (size_t i = n_special; i < by_id.size(); ++i) {
    GRPO_CHECK(by_id[i].size() == 1, label, ": vocabulary entry ", i, " ('", by_id[i],
               "') is not a single character");
    alphabet += by_id[i];
  }
  return std::make_unique<CharTokenizer>(extra, alphabet);
}

}  // namespace grpo::policy
