// The architecture table; see arch.h. One row per Hugging Face model_type, in enum order.
#include "policy/arch.h"

#include "kernels/check.h"

namespace grpo::policy {

namespace {

using AB = AttentionBias;
using SW = SlidingWindow;
using QK = QKNorm;

// clang-format off
// Row layout: {arch, model_type, hf_class, mla, moe, qk_norm, attention_bias, sliding_window, mlp_bias_key,
//              moe_block, expert_gate, expert_up, expert_down}
const std::vector<ArchInfo> kArchTable = {
  {Arch::Qwen2,      "qwen2",       "Qwen2ForCausalLM",      false, false, QK::None,    AB::QkvAlways, SW::UseFlag,   false,
   "mlp",              "gate_proj", "up_proj", "down_proj"},
  {Arch::Qwen3,      "qwen3",       "Qwen3ForCausalLM",      false, false, QK::PerHead, AB::FromKey,   SW::UseFlag,   false,
   "mlp",              "gate_proj", "up_proj", "down_proj"},
  {Arch::Qwen3Moe,   "qwen3_moe",   "Qwen3MoeForCausalLM",   false, true,  QK::PerHead, AB::FromKey,   SW::UseFlag,   false,
   "mlp",              "gate_proj", "up_proj", "down_proj"},
  {Arch::Mixtral,    "mixtral",     "MixtralForCausalLM",    false, true,  QK::None,    AB::Never,     SW::WindowKey, false,
   "block_sparse_moe", "w1",        "w3",      "w2"},
  {Arch::Olmoe,      "olmoe",       "OlmoeForCausalLM",      false, true,  QK::Full,    AB::FromKey,   SW::None,      false,
   "mlp",              "gate_proj", "up_proj", "down_proj"},
  {Arch::DeepseekV2, "deepseek_v2", "DeepseekV2ForCausalLM", true,  true,  QK::None,    AB::FromKey,   SW::None,      false,
   "mlp",              "gate_proj", "up_proj", "down_proj"},
  {Arch::DeepseekV3, "deepseek_v3", "DeepseekV3ForCausalLM", true,  true,  QK::None,    AB::FromKey,   SW::None,      false,
   "mlp",              "gate_proj", "up_proj", "down_proj"},
  {Arch::Llama,      "llama",       "LlamaForCausalLM",      false, false, QK::None,    AB::FromKey,   SW::None,      true,
   "mlp",              "gate_proj", "up_proj", "down_proj"},
  {Arch::Mistral,    "mistral",     "MistralForCausalLM",    false, false, QK::None,    AB::Never,     SW::WindowKey, false,
   "mlp",              "gate_proj", "up_proj", "down_proj"},
};
// clang-format on

}  // namespace

const std::vector<ArchInfo>& arch_table() { return kArchTable; }

const ArchInfo& arch_info(Arch arch) {
  const auto i = static_cast<size_t>(arch);
  GRPO_CHECK(i < kArchTable.size() && kArchTable[i].arch == arch, "arch_info: no row for Arch ", i,
             "; hint: policy/arch.cpp keeps one row per enum value, in enum order");
  return kArchTable[i];
}

std::optional<Arch> arch_from_model_type(const std::string& model_type) {
  for (const auto& row : kArchTable)
    if (model_type == row.model_type) return row.arch;
  return std::nullopt;
}

std::string supported_model_types_text() {
  std::string out;
  for (const auto& row : kArchTable) out += (out.empty() ? "" : ", ") + std::string(row.model_type);
  return out;
}

}  // namespace grpo::policy
