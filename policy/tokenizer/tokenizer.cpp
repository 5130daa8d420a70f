// load_tokenizer: picks the implementation that matches the files found. See tokenizer.h.
#include "policy/tokenizer/tokenizer.h"

#include <nlohmann/json.hpp>

#include <filesystem>

#include "kernels/check.h"
#include "policy/tokenizer/bpe_tokenizer.h"
#include "policy/tokenizer/char_tokenizer.h"
#include "policy/tokenizer/sentencepiece_tokenizer.h"
#include "policy/tokenizer/tokenizer_files.h"

namespace grpo::policy {
namespace {

namespace fs = std::filesystem;

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// tokenizer.json: the character tokenizer writes model WordLevel; real checkpoints have model BPE.
std::unique_ptr<Tokenizer> load_tokenizer_json(const std::string& path) {
  const std::string text = read_text_file(path);
  std::string model_type;
  try {
    const auto j = nlohmann::json::parse(text);
    if (j.is_object() && j.contains("model") && j.at("model").is_object())
      model_type = j.at("model").value("type", "");
  } catch (const nlohmann::json::exception& e) {
    GRPO_FAIL(path, ": invalid JSON: ", e.what(), "; hint: the file is truncated or not JSON");
  }
  if (model_type == "WordLevel") return CharTokenizer::from_json(text, path);
  const std::string sp_model = (fs::path(path).parent_path() / "tokenizer.model").string();
  if (model_type != "BPE" && fs::exists(sp_model)) return std::make_unique<SentencePieceTokenizer>(sp_model);
  return std::make_unique<BpeTokenizer>(read_tokenizer_json(path));
}

}  // namespace

std::vector<int64_t> Tokenizer::encode_with_bos(std::string_view text) const {
  std::vector<int64_t> ids = encode(text);
  if (adds_bos()) ids.insert(ids.begin(), bos_id());
  return ids;
}

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    const fs::path dir(path);
    if (fs::exists(dir / "tokenizer.json")) return load_tokenizer_json((dir / "tokenizer.json").string());
    if (fs::exists(dir / "vocab.json") && fs::exists(dir / "merges.txt"))
      return std::make_unique<BpeTokenizer>(read_vocab_merges(path));
    if (fs::exists(dir / "tokenizer.model"))
      return std::make_unique<SentencePieceTokenizer>((dir / "tokenizer.model").string(),
                                                      (dir / "tokenizer_config.json").string());
    GRPO_FAIL(path, " holds no tokenizer; hint: expected tokenizer.json, vocab.json + merges.txt, or tokenizer.model");
  }
  GRPO_CHECK(fs::exists(path, ec), "tokenizer ", path, " does not exist; hint: pass a checkpoint directory or a "
             "tokenizer.json, .gguf or .model file");
  if (ends_with(path, ".gguf")) return std::make_unique<BpeTokenizer>(read_gguf_bpe(path));
  if (ends_with(path, ".model"))
    return std::make_unique<SentencePieceTokenizer>(
        path, (fs::path(path).parent_path() / "tokenizer_config.json").string());
  if (ends_with(path, ".json")) return load_tokenizer_json(path);
  GRPO_FAIL("cannot tell the tokenizer format of ", path, "; hint: use a directory, tokenizer.json, *.gguf or *.model");
}

}  // namespace grpo::policy
