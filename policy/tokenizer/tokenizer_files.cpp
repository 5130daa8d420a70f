// tokenizer.json, vocab.json + merges.txt and GGUF readers. See tokenizer_files.h.
#include "policy/tokenizer/tokenizer_files.h"

#include <unistd.h>

#include <cstdio>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "kernels/check.h"
#include "policy/tokenizer/gguf_vocab.h"

namespace grpo::policy {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

json parse_json(const std::string& text, const std::string& path) {
  try {
    return json::parse(text);
  } catch (const json::parse_error& e) {
    GRPO_FAIL(path, ": invalid JSON: ", e.what(), "; hint: the file is truncated or not JSON");
  }
}

const json& need(const json& j, const char* key, const std::string& where) {
  GRPO_CHECK(j.is_object() && j.contains(key), where, ": missing field ", key);
  return j.at(key);
}

bool get_bool(const json& j, const char* key, bool dflt, const std::string& where) {
  if (!j.contains(key) || j.at(key).is_null()) return dflt;
  GRPO_CHECK(j.at(key).is_boolean(), where, ".", key, " must be true or false");
  return j.at(key).get<bool>();
}

// Vocabulary object {token: id} -> vector indexed by id.
std::vector<std::string> read_vocab_object(const json& v, const std::string& where) {
  GRPO_CHECK(v.is_object() && !v.empty(), where, " must be a non-empty object {token: id}");
  int64_t max_id = -1;
  for (auto it = v.begin(); it != v.end(); ++it) {
    GRPO_CHECK(it.value().is_number_integer() && it.value().get<int64_t>() >= 0, where, "[\"", it.key(),
               "\"] must be a non-negative integer id");
    max_id = std::max(max_id, it.value().get<int64_t>());
  }
  GRPO_CHECK(max_id < int64_t{1} << 30, where, ": id ", max_id, " is implausibly large");
  std::vector<std::string> vocab(static_cast<size_t>(max_id + 1));
  for (auto it = v.begin(); it != v.end(); ++it) {
    auto& slot = vocab[static_cast<size_t>(it.value().get<int64_t>())];
    GRPO_CHECK(slot.empty(), where, ": id ", it.value().get<int64_t>(), " is given to both '", slot, "' and '",
               it.key(), "'");
    GRPO_CHECK(!it.key().empty(), where, ": empty token");
    slot = it.key();
  }
  return vocab;
}

std::pair<std::string, std::string> split_merge(const std::string& line, const std::string& where) {
  const size_t sp = line.find(' ');
  GRPO_CHECK(sp != std::string::npos && sp > 0 && sp + 1 < line.size() && line.find(' ', sp + 1) == std::string::npos,
             where, ": merge '", line, "' is not two tokens separated by one space");
  return {line.substr(0, sp), line.substr(sp + 1)};
}

std::vector<std::pair<std::string, std::string>> read_merges_json(const json& m, const std::string& where) {
  GRPO_CHECK(m.is_array(), where, " must be an array of \"a b\" strings or [a, b] pairs");
  std::vector<std::pair<std::string, std::string>> out;
  out.reserve(m.size());
  for (size_t i = 0; i < m.size(); ++i) {
    const std::string w = where + "[" + std::to_string(i) + "]";
    if (m[i].is_string()) {
      out.push_back(split_merge(m[i].get<std::string>(), w));
    } else {
      GRPO_CHECK(m[i].is_array() && m[i].size() == 2 && m[i][0].is_string() && m[i][1].is_string(), w,
                 " must be \"a b\" or [\"a\", \"b\"]");
      out.emplace_back(m[i][0].get<std::string>(), m[i][1].get<std::string>());
    }
  }
  return out;
}

AddedToken read_added_token(const json& t, int64_t id, const std::string& where) {
  AddedToken a;
  a.id = id;
  const json& c = need(t, "content", where);
  GRPO_CHECK(c.is_string() && !c.get<std::string>().empty(), where, ".content must be a non-empty string");
  a.content = c.get<std::string>();
  a.special = get_bool(t, "special", false, where);
  a.lstrip = get_bool(t, "lstrip", false, where);
  a.rstrip = get_bool(t, "rstrip", false, where);
  a.single_word = get_bool(t, "single_word", false, where);
  a.normalized = get_bool(t, "normalized", !a.special, where);
  return a;
}

// Regex text matching a literal string (Split with {"String": ...}).
std::string escape_literal(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (std::string_view("\\^$.|?*+()[]{}-").find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
  return out;
}

void read_pre_tokenizer(const json& p, BpeTokenizerSpec& spec, bool& byte_level, const std::string& where) {
  if (p.is_null()) return;
  const std::string type = need(p, "type", where).get<std::string>();
  if (type == "Sequence") {
    const json& list = need(p, "pretokenizers", where);
    GRPO_CHECK(list.is_array(), where, ".pretokenizers must be an array");
    for (size_t i = 0; i < list.size(); ++i)
      read_pre_tokenizer(list[i], spec, byte_level, where + ".pretokenizers[" + std::to_string(i) + "]");
  } else if (type == "Split") {
    const json& pat = need(p, "pattern", where);
    const std::string behavior = p.value("behavior", "");
    GRPO_CHECK(behavior == "Isolated" && !get_bool(p, "invert", false, where), where, ": Split with behavior '",
               behavior, "'", get_bool(p, "invert", false, where) ? " and invert" : "",
               " is not supported; hint: byte-level models use behavior Isolated, invert false");
    if (pat.contains("Regex")) spec.patterns.push_back(pat.at("Regex").get<std::string>());
    else if (pat.contains("String")) spec.patterns.push_back(escape_literal(pat.at("String").get<std::string>()));
    else GRPO_FAIL(where, ".pattern must be {\"Regex\": ...} or {\"String\": ...}");
  } else if (type == "ByteLevel") {
    GRPO_CHECK(!byte_level, where, ": a second ByteLevel pre-tokenizer");
    byte_level = true;
    spec.add_prefix_space = get_bool(p, "add_prefix_space", false, where);
    if (get_bool(p, "use_regex", true, where)) spec.patterns.push_back(gpt2_pattern());
  } else {
    GRPO_FAIL(where, ": pre-tokenizer type '", type,
              "' is not supported; hint: supported are Sequence, Split (Isolated) and ByteLevel; a sentencepiece-style "
              "model loads from tokenizer.model instead");
  }
}

bool read_normalizer(const json& n, const std::string& where) {
  if (n.is_null()) return false;
  const std::string type = need(n, "type", where).get<std::string>();
  if (type == "NFC") return true;
  if (type == "Sequence") {
    bool nfc = false;
    const json& list = need(n, "normalizers", where);
    for (size_t i = 0; i < list.size(); ++i) nfc |= read_normalizer(list[i], where + ".normalizers[" + std::to_string(i) + "]");
    return nfc;
  }
  GRPO_FAIL(where, ": normalizer type '", type, "' is not supported; hint: supported are NFC and none");
}

// post_processor: sets add_bos when the single-sequence template starts with a special token.
void read_post_processor(const json& p, BpeTokenizerSpec& spec, const std::string& where) {
  if (p.is_null()) return;
  const std::string type = need(p, "type", where).get<std::string>();
  if (type == "ByteLevel") return;
  if (type == "Sequence") {
    const json& list = need(p, "processors", where);
    for (size_t i = 0; i < list.size(); ++i)
      read_post_processor(list[i], spec, where + ".processors[" + std::to_string(i) + "]");
    return;
  }
  GRPO_CHECK(type == "TemplateProcessing", where, ": post-processor type '", type,
             "' is not supported; hint: supported are ByteLevel, TemplateProcessing and Sequence of them");
  const json& single = need(p, "single", where);
  GRPO_CHECK(single.is_array(), where, ".single must be an array");
  for (size_t i = 0; i < single.size(); ++i) {
    const std::string w = where + ".single[" + std::to_string(i) + "]";
    if (single[i].contains("Sequence")) continue;
    GRPO_CHECK(single[i].contains("SpecialToken"), w, " must be a Sequence or a SpecialToken");
    GRPO_CHECK(i == 0, w, ": only a leading special token (BOS) is supported");
    const std::string name = need(single[i].at("SpecialToken"), "id", w).get<std::string>();
    const json& specials = need(p, "special_tokens", where);
    const json& ids = need(need(specials, name.c_str(), where + ".special_tokens"), "ids", where + ".special_tokens");
    GRPO_CHECK(ids.is_array() && ids.size() == 1 && ids[0].is_number_integer(), where, ".special_tokens[\"", name,
               "\"].ids must hold one id");
    spec.bos_id = ids[0].get<int64_t>();
    spec.add_bos = true;
  }
}

// A token named in tokenizer_config.json: a string or {"content": ...}; "" when absent or null.
std::string config_token(const json& cfg, const char* key) {
  if (!cfg.contains(key) || cfg.at(key).is_null()) return "";
  const json& v = cfg.at(key);
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v.at("content").is_string()) return v.at("content").get<std::string>();
  return "";
}

int64_t find_token(const BpeTokenizerSpec& spec, const std::string& text, const std::string& where) {
  for (const AddedToken& t : spec.added)
    if (t.content == text) return t.id;
  for (size_t id = 0; id < spec.vocab.size(); ++id)
    if (spec.vocab[id] == text) return static_cast<int64_t>(id);
  GRPO_FAIL(where, ": token '", text, "' is not in the vocabulary");
}

// Special ids and BOS from tokenizer_config.json (when the file exists).
void read_tokenizer_config(const std::string& path, BpeTokenizerSpec& spec, bool added_from_config) {
  if (!fs::exists(path)) return;
  spec.tokenizer_config_text = read_text_file(path);
  const json cfg = parse_json(spec.tokenizer_config_text, path);
  GRPO_CHECK(cfg.is_object(), path, ": must be a JSON object");
  if (added_from_config && cfg.contains("added_tokens_decoder")) {
    const json& dec = cfg.at("added_tokens_decoder");
    GRPO_CHECK(dec.is_object(), path, ": added_tokens_decoder must be an object {id: token}");
    for (auto it = dec.begin(); it != dec.end(); ++it) {
      int64_t id = -1;
      try {
        id = std::stoll(it.key());
      } catch (const std::exception&) {
        GRPO_FAIL(path, ": added_tokens_decoder key '", it.key(), "' is not an id");
      }
      spec.added.push_back(read_added_token(it.value(), id, path + ": added_tokens_decoder[\"" + it.key() + "\"]"));
    }
  }
  if (std::string eos = config_token(cfg, "eos_token"); !eos.empty()) spec.eos_id = find_token(spec, eos, path + ": eos_token");
  if (std::string pad = config_token(cfg, "pad_token"); !pad.empty()) spec.pad_id = find_token(spec, pad, path + ": pad_token");
  if (std::string bos = config_token(cfg, "bos_token"); !bos.empty()) spec.bos_id = find_token(spec, bos, path + ": bos_token");
}

}  // namespace

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  GRPO_CHECK(in.good(), "cannot open ", path, "; hint: check the path");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_text_file(const std::string& path, const std::string& text) {
  // A temporary file beside it, renamed into place: a failed write never leaves a truncated file under `path`.
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    out.close();
    if (!out.good()) {
      std::remove(tmp.c_str());
      GRPO_FAIL("cannot write ", path, "; hint: check free space and permissions");
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    GRPO_FAIL("cannot write ", path, " (rename failed); hint: check permissions");
  }
}

BpeTokenizerSpec read_tokenizer_json(const std::string& path) {
  BpeTokenizerSpec spec;
  spec.label = path;
  spec.tokenizer_json_text = read_text_file(path);
  const json j = parse_json(spec.tokenizer_json_text, path);
  GRPO_CHECK(j.is_object(), path, ": must be a JSON object");
  const json& model = need(j, "model", path);
  GRPO_CHECK(model.is_object() && model.contains("type") && model.at("type").is_string(), path,
             ": model must be an object with a string field type");
  const std::string type = model.at("type").get<std::string>();
  GRPO_CHECK(type == "BPE", path, ": model.type is '", type,
             "', not BPE; hint: this loader reads byte-level BPE; WordPiece/Unigram/WordLevel are not supported");
  GRPO_CHECK(!get_bool(model, "byte_fallback", false, path + ": model"), path,
             ": model.byte_fallback=true is a sentencepiece-style BPE; hint: load the model's tokenizer.model instead");
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"})
    GRPO_CHECK(!model.contains(key) || model.at(key).is_null() || model.at(key) == "", path, ": model.", key,
               " is not supported");
  GRPO_CHECK(!model.contains("dropout") || model.at("dropout").is_null() || model.at("dropout") == 0.0, path,
             ": model.dropout is set; hint: BPE dropout is a training-time augmentation, remove it for GRPO");
  spec.vocab = read_vocab_object(need(model, "vocab", path + ": model"), path + ": model.vocab");
  spec.merges = read_merges_json(need(model, "merges", path + ": model"), path + ": model.merges");
  spec.ignore_merges = get_bool(model, "ignore_merges", false, path + ": model");
  if (j.contains("added_tokens") && !j.at("added_tokens").is_null()) {
    const json& list = j.at("added_tokens");
    GRPO_CHECK(list.is_array(), path, ": added_tokens must be an array");
    for (size_t i = 0; i < list.size(); ++i) {
      const std::string w = path + ": added_tokens[" + std::to_string(i) + "]";
      const json& id = need(list[i], "id", w);
      GRPO_CHECK(id.is_number_integer() && id.get<int64_t>() >= 0, w, ".id must be a non-negative integer");
      spec.added.push_back(read_added_token(list[i], id.get<int64_t>(), w));
    }
  }
  spec.nfc = read_normalizer(j.value("normalizer", json(nullptr)), path + ": normalizer");
  bool byte_level = false;
  read_pre_tokenizer(j.value("pre_tokenizer", json(nullptr)), spec, byte_level, path + ": pre_tokenizer");
  GRPO_CHECK(byte_level, path, ": pre_tokenizer has no ByteLevel step; hint: only byte-level BPE is supported here");
  const json& dec = j.value("decoder", json(nullptr));
  GRPO_CHECK(dec.is_null() || dec.value("type", "") == "ByteLevel", path, ": decoder type '", dec.value("type", ""),
             "' is not supported; hint: byte-level BPE uses the ByteLevel decoder");
  read_post_processor(j.value("post_processor", json(nullptr)), spec, path + ": post_processor");
  const int64_t bos_from_post = spec.bos_id;
  read_tokenizer_config((fs::path(path).parent_path() / "tokenizer_config.json").string(), spec, false);
  if (spec.add_bos) spec.bos_id = bos_from_post;  // the post-processor decides what is prepended
  return spec;
}

BpeTokenizerSpec read_vocab_merges(const std::string& dir) {
  BpeTokenizerSpec spec;
  const std::string vocab_path = dir + "/vocab.json", merges_path = dir + "/merges.txt",
                    config_path = dir + "/tokenizer_config.json";
  spec.label = vocab_path;
  spec.vocab = read_vocab_object(parse_json(read_text_file(vocab_path), vocab_path), vocab_path);
  std::istringstream merges(read_text_file(merges_path));
  std::string line;
  for (size_t n = 1; std::getline(merges, line); ++n) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || (n == 1 && line.rfind("#version", 0) == 0)) continue;
    spec.merges.push_back(split_merge(line, merges_path + ":" + std::to_string(n)));
  }
  GRPO_CHECK(fs::exists(config_path), config_path,
             " is missing; hint: vocab.json + merges.txt need tokenizer_config.json to say which tokenizer (regexes) "
             "they belong to");
  const json cfg = parse_json(read_text_file(config_path), config_path);
  const std::string cls = cfg.value("tokenizer_class", "");
  std::string preset;
  if (cls == "Qwen2Tokenizer" || cls == "Qwen2TokenizerFast") preset = "qwen2";
  else if (cls == "GPT2Tokenizer" || cls == "GPT2TokenizerFast") preset = "gpt-2";
  else GRPO_FAIL(config_path, ": tokenizer_class '", cls,
                 "' is not known for vocab.json + merges.txt; hint: known are Qwen2Tokenizer and GPT2Tokenizer, or use "
                 "the model's tokenizer.json");
  const PreTokenizerPreset& p = pre_tokenizer_preset(preset);
  spec.patterns = p.patterns;
  spec.nfc = p.nfc;
  spec.add_prefix_space = cfg.value("add_prefix_space", false);
  const std::string added_path = dir + "/added_tokens.json";
  read_tokenizer_config(config_path, spec, true);
  if (fs::exists(added_path)) {
    const json added = parse_json(read_text_file(added_path), added_path);
    GRPO_CHECK(added.is_object(), added_path, " must be an object {token: id}");
    for (auto it = added.begin(); it != added.end(); ++it) {
      GRPO_CHECK(it.value().is_number_integer(), added_path, ": [\"", it.key(), "\"] must be an id");
      bool known = false;
      for (const AddedToken& t : spec.added) known |= t.id == it.value().get<int64_t>();
      if (!known) spec.added.push_back({it.key(), it.value().get<int64_t>(), true, false, false, false, false});
    }
  }
  // The original vocab.json/merges.txt are not copied by save(): it writes an equivalent tokenizer.json.
  return spec;
}

BpeTokenizerSpec read_gguf_bpe(const std::string& path) {
  GgufVocab g = read_gguf_vocab(path);
  GRPO_CHECK(g.model == "gpt2", path, ": tokenizer.ggml.model is '", g.model,
             "'; hint: only byte-level BPE (\"gpt2\") vocabularies are read from GGUF; for a sentencepiece model "
             "(\"llama\") use its tokenizer.model");
  BpeTokenizerSpec spec;
  spec.label = path;
  const PreTokenizerPreset& p = pre_tokenizer_preset(g.pre.empty() ? "gpt-2" : g.pre);
  spec.patterns = p.patterns;
  spec.nfc = p.nfc;
  for (size_t i = 0; i < g.merges.size(); ++i)
    spec.merges.push_back(split_merge(g.merges[i], path + ": tokenizer.ggml.merges[" + std::to_string(i) + "]"));
  for (size_t id = 0; id < g.tokens.size(); ++id) {
    const int32_t type = g.token_types.empty() ? 1 : g.token_types[id];
    if (type == 3 || type == 4)  // control and user-defined tokens are matched before BPE
      spec.added.push_back({g.tokens[id], static_cast<int64_t>(id), type == 3, false, false, false, type == 4});
  }
  spec.vocab = std::move(g.tokens);
  spec.bos_id = g.bos_id;
  spec.eos_id = g.eos_id;
  spec.pad_id = g.pad_id;
  spec.add_bos = g.add_bos;
  return spec;
}

}  // namespace grpo::policy
