// The sentencepiece module (built as grpo_spm.so, loaded by spm_api() in sentencepiece_tokenizer.cpp). See
// spm_module.h for why it is a separate module. Thin wrappers only.
#include <sentencepiece_processor.h>

#include "policy/tokenizer/spm_module.h"

namespace grpo::policy {
namespace {

sentencepiece::SentencePieceProcessor* cast(void* sp) { return static_cast<sentencepiece::SentencePieceProcessor*>(sp); }

void* load(const std::string& model_bytes, std::string* error) {
  auto* sp = new sentencepiece::SentencePieceProcessor();
  const auto st = sp->LoadFromSerializedProto(model_bytes);
  if (st.ok()) return sp;
  *error = st.ToString();
  delete sp;
  return nullptr;
}

void release(void* sp) { delete cast(sp); }

bool encode(void* sp, const std::string& text, std::vector<int>* ids, std::string* error) {
  const auto st = cast(sp)->Encode(text, ids);
  if (!st.ok()) *error = st.ToString();
  return st.ok();
}

bool decode(void* sp, const std::vector<int>& ids, std::string* text, std::string* error) {
  const auto st = cast(sp)->Decode(ids, text);
  if (!st.ok()) *error = st.ToString();
  return st.ok();
}

const SpmApi kApi = {
    load,
    release,
    encode,
    decode,
    [](void* sp) { return cast(sp)->GetPieceSize(); },
    [](void* sp, int id) { return cast(sp)->IdToPiece(id); },
    [](void* sp, const std::string& piece) { return cast(sp)->PieceToId(piece); },
    [](void* sp, int id) { return cast(sp)->IsControl(id); },
    [](void* sp) { return cast(sp)->bos_id(); },
    [](void* sp) { return cast(sp)->eos_id(); },
    [](void* sp) { return cast(sp)->unk_id(); },
    [](void* sp) { return cast(sp)->pad_id(); },
};

}  // namespace

extern "C" const SpmApi* grpo_spm_api() { return &kApi; }

}  // namespace grpo::policy
