// libsentencepiece behind the Tokenizer interface. See sentencepiece_tokenizer.h.
#include "policy/tokenizer/sentencepiece_tokenizer.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "kernels/check.h"
#include "policy/tokenizer/spm_module.h"
#include "policy/tokenizer/tokenizer_files.h"
#include "policy/tokenizer/unicode.h"

namespace grpo::policy {
namespace {

const SpmApi* load_module(std::string* tried) {
  std::vector<std::string> paths;
  if (const char* env = std::getenv("GRPO_SPM_MODULE")) paths.push_back(env);
#ifdef GRPO_SPM_MODULE_PATH
  paths.push_back(GRPO_SPM_MODULE_PATH);
#endif
  char exe[4096];
  const ssize_t n = ::readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n > 0) paths.push_back(std::filesystem::path(std::string(exe, static_cast<size_t>(n))).parent_path() / "libgrpo_spm.so");
  int flags = RTLD_NOW | RTLD_LOCAL;
#if !defined(__SANITIZE_ADDRESS__)
  flags |= RTLD_DEEPBIND;  // NOTE: AddressSanitizer refuses RTLD_DEEPBIND; sanitizer builds bind globally
#endif
  for (const std::string& p : paths) {
    if (p.empty() || !std::filesystem::exists(p)) {
      *tried += " " + p + " (missing)";
      continue;
    }
    void* handle = ::dlopen(p.c_str(), flags);
    if (!handle) {
      *tried += " " + p + " (" + ::dlerror() + ")";
      continue;
    }
    auto entry = reinterpret_cast<const SpmApi* (*)()>(::dlsym(handle, "grpo_spm_api"));
    if (entry) return entry();
    *tried += " " + p + " (no grpo_spm_api)";
  }
  return nullptr;
}

}  // namespace

const SpmApi& spm_api() {
  static std::string tried;
  static const SpmApi* api = load_module(&tried);
  GRPO_CHECK(api, "cannot load the sentencepiece module; tried:", tried,
             "; hint: build the grpo_spm target, or set GRPO_SPM_MODULE to its path");
  return *api;
}

SentencePieceTokenizer::SentencePieceTokenizer(const std::string& model_path, const std::string& config_path)
    : model_path_(model_path) {
  model_bytes_ = read_text_file(model_path);
  const SpmApi& api = spm_api();
  std::string error;
  sp_ = api.load(model_bytes_, &error);
  GRPO_CHECK(sp_, model_path, ": not a sentencepiece model: ", error,
             "; hint: the file is truncated or is not a tokenizer.model");
  std::vector<AddedToken> specials;
  for (int id = 0; id < api.piece_size(sp_); ++id) {
    if (api.is_control(sp_, id)) specials.push_back({api.id_to_piece(sp_, id), id, true, false, false, false, false});
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
  add_bos_ = add_bos_ && api.bos_id(sp_) >= 0;
}

SentencePieceTokenizer::~SentencePieceTokenizer() {
  if (sp_) spm_api().release(sp_);
}

std::vector<int64_t> SentencePieceTokenizer::encode(std::string_view text) const {
  std::string repaired;
  text = repair_utf8(text, repaired);
  std::vector<AddedTokenMatcher::Segment> segments;
  specials_.split(text, segments);
  std::vector<int64_t> out;
  std::vector<int> ids;
  std::string error;
  for (const auto& seg : segments) {
    if (seg.id >= 0) {
      out.push_back(seg.id);
      continue;
    }
    GRPO_CHECK(spm_api().encode(sp_, std::string(seg.text), &ids, &error), model_path_, ": encoding failed: ", error);
    out.insert(out.end(), ids.begin(), ids.end());
  }
  return out;
}

std::string SentencePieceTokenizer::decode(const std::vector<int64_t>& ids) const {
  const SpmApi& api = spm_api();
  std::string out, part, error;
  std::vector<int> run;
  auto flush = [&] {
    if (run.empty()) return;
    GRPO_CHECK(api.decode(sp_, run, &part, &error), model_path_, ": decoding failed: ", error);
    out += part;
    run.clear();
  };
  for (int64_t id : ids) {
    GRPO_CHECK(id >= 0 && id < vocab_size(), "token id ", id, " is outside the vocabulary of ", vocab_size());
    if (api.is_control(sp_, static_cast<int>(id))) {
      flush();
      out += api.id_to_piece(sp_, static_cast<int>(id));
    } else {
      run.push_back(static_cast<int>(id));
    }
  }
  flush();
  return out;
}

int64_t SentencePieceTokenizer::vocab_size() const { return spm_api().piece_size(sp_); }
int64_t SentencePieceTokenizer::eos_id() const { return spm_api().eos_id(sp_); }
int64_t SentencePieceTokenizer::bos_id() const { return spm_api().bos_id(sp_); }
int64_t SentencePieceTokenizer::pad_id() const {
  const SpmApi& api = spm_api();
  return api.pad_id(sp_) >= 0 ? api.pad_id(sp_) : api.eos_id(sp_);
}

int64_t SentencePieceTokenizer::token_to_id(std::string_view token) const {
  const SpmApi& api = spm_api();
  const int id = api.piece_to_id(sp_, std::string(token));
  return id == api.unk_id(sp_) && token != api.id_to_piece(sp_, id) ? -1 : id;
}

std::string SentencePieceTokenizer::id_to_token(int64_t id) const {
  GRPO_CHECK(id >= 0 && id < vocab_size(), "token id ", id, " is outside the vocabulary of ", vocab_size());
  return spm_api().id_to_piece(sp_, static_cast<int>(id));
}

void SentencePieceTokenizer::save(const std::string& dir) const {
  write_text_file(dir + "/tokenizer.model", model_bytes_);
  if (!config_text_.empty()) {
    write_text_file(dir + "/tokenizer_config.json", config_text_);
    return;
  }
  const SpmApi& api = spm_api();
  nlohmann::json cfg = {{"tokenizer_class", "LlamaTokenizer"},
                        {"bos_token", bos_id() >= 0 ? api.id_to_piece(sp_, api.bos_id(sp_)) : ""},
                        {"eos_token", eos_id() >= 0 ? api.id_to_piece(sp_, api.eos_id(sp_)) : ""},
                        {"add_bos_token", add_bos_},
                        {"add_eos_token", false},
                        {"legacy", true}};
  write_text_file(dir + "/tokenizer_config.json", cfg.dump(2));
}

std::string SentencePieceTokenizer::describe() const {
  return str("sentencepiece, ", vocab_size(), " pieces", add_bos_ ? ", adds BOS" : "", " (", model_path_, ")");
}

}  // namespace grpo::policy
