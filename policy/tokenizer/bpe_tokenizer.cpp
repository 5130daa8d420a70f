// Byte-level BPE encode/decode and the tokenizer.json writer. See bpe_tokenizer.h.
#include "policy/tokenizer/bpe_tokenizer.h"

#include <nlohmann/json.hpp>

#include <algorithm>

#include "kernels/check.h"
#include "policy/tokenizer/tokenizer_files.h"
#include "policy/tokenizer/unicode.h"

namespace grpo::policy {

BpeTokenizer::BpeTokenizer(BpeTokenizerSpec spec)
    : spec_(std::move(spec)),
      bpe_(std::move(spec_.vocab), spec_.merges, spec_.ignore_merges, spec_.label),
      pre_(spec_.patterns, spec_.label),
      added_(spec_.added) {
  spec_.merges.clear();
  spec_.merges.shrink_to_fit();
  vocab_size_ = bpe_.size();
  for (const AddedToken& t : spec_.added) {
    GRPO_CHECK(t.id >= 0, spec_.label, ": added token '", t.content, "' has a negative id");
    // An added token may reuse a BPE id (same text) or take a fresh one past the vocabulary.
    if (t.id < bpe_.size()) {
      const std::string& v = bpe_.token(t.id);
      GRPO_CHECK(v.empty() || v == t.content || bpe_.token_bytes(t.id) == t.content, spec_.label, ": added token '",
                 t.content, "' has id ", t.id, ", which the vocabulary gives to '", v, "'");
    }
    vocab_size_ = std::max(vocab_size_, t.id + 1);
  }
  for (int64_t id : {spec_.bos_id, spec_.eos_id, spec_.pad_id})
    GRPO_CHECK(id < vocab_size_, spec_.label, ": special token id ", id, " is outside the vocabulary of ",
               vocab_size_);
}

void BpeTokenizer::encode_text(std::string_view text, std::vector<int64_t>& out) const {
  if (text.empty()) return;
  std::string nfc_storage, prefixed;
  if (spec_.nfc) text = to_nfc(text, nfc_storage);
  if (spec_.add_prefix_space && text.front() != ' ') {
    prefixed = " ";
    prefixed += text;
    text = prefixed;
  }
  thread_local std::vector<std::string_view> pieces;
  pieces.clear();
  pre_.split(text, pieces);
  for (std::string_view piece : pieces) bpe_.encode_piece(piece, out);
}

std::vector<int64_t> BpeTokenizer::encode(std::string_view text) const {
  std::string repaired;
  text = repair_utf8(text, repaired);
  std::vector<int64_t> out;
  out.reserve(text.size() / 3 + 4);
  if (added_.empty()) {
    encode_text(text, out);
    return out;
  }
  // NOTE: every added token is matched on the raw text, also those marked normalized=true. Hugging Face
  // matches those after normalisation; the two differ only for a token whose text NFC changes.
  std::vector<AddedTokenMatcher::Segment> segments;
  added_.split(text, segments);
  for (const auto& seg : segments) {
    if (seg.id >= 0) out.push_back(seg.id);
    else encode_text(seg.text, out);
  }
  return out;
}

std::string BpeTokenizer::decode(const std::vector<int64_t>& ids) const {
  std::string out;
  for (int64_t id : ids) {
    GRPO_CHECK(id >= 0 && id < vocab_size_, "token id ", id, " is outside the vocabulary of ", vocab_size_);
    if (const AddedToken* t = added_.find_id(id)) {
      out += t->content;
      continue;
    }
    GRPO_CHECK(id < bpe_.size() && !bpe_.token(id).empty(), "token id ", id, " has no token in ", spec_.label);
    out += bpe_.token_bytes(id);
  }
  return out;
}

int64_t BpeTokenizer::token_to_id(std::string_view token) const {
  if (const AddedToken* t = added_.find_content(token)) return t->id;
  return bpe_.token_to_id(token);
}

std::string BpeTokenizer::id_to_token(int64_t id) const {
  GRPO_CHECK(id >= 0 && id < vocab_size_, "token id ", id, " is outside the vocabulary of ", vocab_size_);
  if (const AddedToken* t = added_.find_id(id)) return t->content;
  return id < bpe_.size() ? bpe_.token(id) : std::string();
}

std::string BpeTokenizer::describe() const {
  std::string pre = std::to_string(pre_.patterns().size()) + " regex split(s)";
  return str("byte-level BPE, ", bpe_.size(), " tokens, ", bpe_.n_merges(), " merges, ", added_.tokens().size(),
             " added tokens, ", pre, spec_.nfc ? ", NFC" : "", spec_.add_bos ? ", adds BOS" : "", " (",
             spec_.label, ")");
}

std::string BpeTokenizer::to_tokenizer_json() const {
  using nlohmann::json;
  json added = json::array();
  for (const AddedToken& t : added_.tokens())
    added.push_back({{"id", t.id}, {"content", t.content}, {"single_word", t.single_word}, {"lstrip", t.lstrip},
                     {"rstrip", t.rstrip}, {"normalized", t.normalized}, {"special", t.special}});
  json pretoks = json::array();
  for (const std::string& p : pre_.patterns())
    pretoks.push_back({{"type", "Split"}, {"pattern", {{"Regex", p}}}, {"behavior", "Isolated"}, {"invert", false}});
  pretoks.push_back(
      {{"type", "ByteLevel"}, {"add_prefix_space", spec_.add_prefix_space}, {"trim_offsets", false}, {"use_regex", false}});
  json byte_level_pp = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}};
  json post = byte_level_pp;
  if (adds_bos()) {
    const std::string bos = id_to_token(spec_.bos_id);
    json seq_a = {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}, seq_b = {{"Sequence", {{"id", "B"}, {"type_id", 1}}}};
    json special = {{"SpecialToken", {{"id", bos}, {"type_id", 0}}}};
    post = {{"type", "TemplateProcessing"},
            {"single", {special, seq_a}},
            {"pair", {special, seq_a, {{"SpecialToken", {{"id", bos}, {"type_id", 1}}}}, seq_b}},
            {"special_tokens", {{bos, {{"id", bos}, {"ids", {spec_.bos_id}}, {"tokens", {bos}}}}}}};
  }
  json vocab = json::object();
  for (int64_t id = 0; id < bpe_.size(); ++id)
    if (!bpe_.token(id).empty()) vocab[bpe_.token(id)] = id;
  json merges = json::array();
  for (auto& [a, b] : bpe_.merge_list()) merges.push_back({a, b});
  json j = {{"version", "1.0"},
            {"truncation", nullptr},
            {"padding", nullptr},
            {"added_tokens", added},
            {"normalizer", spec_.nfc ? json{{"type", "NFC"}} : json(nullptr)},
            {"pre_tokenizer", {{"type", "Sequence"}, {"pretokenizers", pretoks}}},
            {"post_processor", post},
            {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}}},
            {"model",
             {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"continuing_subword_prefix", nullptr},
              {"end_of_word_suffix", nullptr}, {"fuse_unk", false}, {"byte_fallback", false},
              {"ignore_merges", bpe_.ignore_merges()}, {"vocab", vocab}, {"merges", merges}}}};
  return j.dump(1);
}

void BpeTokenizer::save(const std::string& dir) const {
  write_text_file(dir + "/tokenizer.json", spec_.tokenizer_json_text.empty() ? to_tokenizer_json() : spec_.tokenizer_json_text);
  if (!spec_.tokenizer_config_text.empty()) {
    write_text_file(dir + "/tokenizer_config.json", spec_.tokenizer_config_text);
    return;
  }
  using nlohmann::json;
  auto name = [&](int64_t id) { return id >= 0 ? json(id_to_token(id)) : json(nullptr); };
  json decoder = json::object();
  for (const AddedToken& t : added_.tokens())
    decoder[std::to_string(t.id)] = {{"content", t.content}, {"lstrip", t.lstrip}, {"rstrip", t.rstrip},
                                     {"normalized", t.normalized}, {"single_word", t.single_word},
                                     {"special", t.special}};
  json cfg = {{"tokenizer_class", "PreTrainedTokenizerFast"},
              {"bos_token", name(spec_.bos_id)},
              {"eos_token", name(spec_.eos_id)},
              {"pad_token", name(pad_id())},
              {"add_bos_token", adds_bos()},
              {"clean_up_tokenization_spaces", false},
              {"added_tokens_decoder", decoder}};
  write_text_file(dir + "/tokenizer_config.json", cfg.dump(2));
}

}  // namespace grpo::policy
