// libsentencepiece behind the Tokenizer interface. See sentencepiece_tokenizer.h.
#include "policy/tokenizer/sentencepiece_tokenizer.h"

#include <sentencepiece_processor.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "kernels/check.h"
#include "policy/tokenizer/tokenizer_files.h"
#include "policy/tokenizer/unicode.h"

namespace grpo::policy {

SentencePieceTokenizer::SentencePieceTokenizer(const std::string& model_path, const std::string& config_path)
    : sp_(std::make_unique<sentencepiece::SentencePieceProcessor>()), model_path_(model_path) {
  model_bytes_ = read_text_file(model_path);
  const auto st = sp_->LoadFromSerializedProto(model_bytes_);
  GRPO_CHECK(st.ok(), model_path, ": not a sentencepiece model: ", st.ToString(),
             "; hint: the file is truncated or is not a tokenizer.model");
  std::vector<AddedToken> specials;
  for (int id = 0; id < sp_->GetPieceSize(); ++id) {
    if (sp_->IsControl(id))
      specials.push_back({sp_->IdToPiece(id), id, true, false, false, false, false});
  }
  specials_ = AddedTokenMatcher(specials);
  if (!config_path.empty() && std::filesystem::exists(config_path)) {
    config_text_ = read_text_file(config_path);
    try {
      const auto cfg = nlohmann::json::parse(config_text_);
      if (cfg.contains("add_bos_token") && cfg.at("add_bos_token").is_boolean()) add_bos_ = cfg.at("add_bos_token");
    } catch (const nlohmann::json::exception& e) {
      GRPO_FAIL(config_path, ": invalid JSON: ", e.what());
    }
  }
  add_bos_ = add_bos_ && sp_->bos_id() >= 0;
}

SentencePieceTokenizer::~SentencePieceTokenizer() = default;

std::vector<int64_t> SentencePieceTokenizer::encode(std::string_view text) const {
  std::string repaired;
  text = repair_utf8(text, repaired);
  std::vector<AddedTokenMatcher::Segment> segments;
  specials_.split(text, segments);
  std::vector<int64_t> out;
  std::vector<int> ids;
  for (const auto& seg : segments) {
    if (seg.id >= 0) {
      out.push_back(seg.id);
      continue;
    }
    const auto st = sp_->Encode(seg.text, &ids);
    GRPO_CHECK(st.ok(), model_path_, ": encoding failed: ", st.ToString());
    out.insert(out.end(), ids.begin(), ids.end());
  }
  return out;
}

std::string SentencePieceTokenizer::decode(const std::vector<int64_t>& ids) const {
  std::string out, part;
  std::vector<int> run;
  auto flush = [&] {
    if (run.empty()) return;
    const auto st = sp_->Decode(run, &part);
    GRPO_CHECK(st.ok(), model_path_, ": decoding failed: ", st.ToString());
    out += part;
    run.clear();
  };
  for (int64_t id : ids) {
    GRPO_CHECK(id >= 0 && id < vocab_size(), "token id ", id, " is outside the vocabulary of ", vocab_size());
    if (sp_->IsControl(static_cast<int>(id))) {
      flush();
      out += sp_->IdToPiece(static_cast<int>(id));
    } else {
      run.push_back(static_cast<int>(id));
    }
  }
  flush();
  return out;
}

int64_t SentencePieceTokenizer::vocab_size() const { return sp_->GetPieceSize(); }
int64_t SentencePieceTokenizer::eos_id() const { return sp_->eos_id(); }
int64_t SentencePieceTokenizer::bos_id() const { return sp_->bos_id(); }
int64_t SentencePieceTokenizer::pad_id() const { return sp_->pad_id() >= 0 ? sp_->pad_id() : sp_->eos_id(); }

int64_t SentencePieceTokenizer::token_to_id(std::string_view token) const {
  const int id = sp_->PieceToId(std::string(token));
  return id == sp_->unk_id() && token != sp_->IdToPiece(id) ? -1 : id;
}

std::string SentencePieceTokenizer::id_to_token(int64_t id) const {
  GRPO_CHECK(id >= 0 && id < vocab_size(), "token id ", id, " is outside the vocabulary of ", vocab_size());
  return sp_->IdToPiece(static_cast<int>(id));
}

void SentencePieceTokenizer::save(const std::string& dir) const {
  auto write = [](const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    out.close();
    GRPO_CHECK(out.good(), "cannot write ", path, "; hint: check free space and permissions");
  };
  write(dir + "/tokenizer.model", model_bytes_);
  if (!config_text_.empty()) {
    write(dir + "/tokenizer_config.json", config_text_);
    return;
  }
  nlohmann::json cfg = {{"tokenizer_class", "LlamaTokenizer"},
                        {"bos_token", sp_->bos_id() >= 0 ? sp_->IdToPiece(sp_->bos_id()) : ""},
                        {"eos_token", sp_->eos_id() >= 0 ? sp_->IdToPiece(sp_->eos_id()) : ""},
                        {"add_bos_token", add_bos_},
                        {"add_eos_token", false},
                        {"legacy", true}};
  write(dir + "/tokenizer_config.json", cfg.dump(2));
}

std::string SentencePieceTokenizer::describe() const {
  return str("sentencepiece, ", vocab_size(), " pieces", add_bos_ ? ", adds BOS" : "", " (", model_path_, ")");
}

}  // namespace grpo::policy
