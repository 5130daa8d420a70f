// A llama.cpp GGUF model file as a Policy: config.json built from the llama.* metadata, every tensor dequantized
// (gguf_quants.h) and renamed to its Hugging Face name with the rows of attn_q / attn_k put back in Hugging Face's
// rotate-half order (llama.cpp's converter interleaves them), the tokenizer from the GGUF vocabulary, the chat
// template from tokenizer.chat_template and the EOS id. save_policy_atomic then writes a complete Hugging Face
// directory. Only general.architecture "llama" is read; other architectures stop naming it.
#pragma once

#include <string>

#include "policy/gguf.h"
#include "policy/weights.h"

namespace grpo::policy {

// config.json text (LlamaForCausalLM) from a GGUF header: hidden, layers, heads, KV heads, head_dim, SwiGLU width,
// rope_theta (and linear rope scaling), rms_norm_eps, max_position_embeddings (the context length), vocab_size
// (token_embd's rows), tie_word_embeddings (no output.weight), BOS/EOS/PAD ids. Throws naming the file and key for
// a missing key or an option we do not implement (MoE llama, rope_freqs, yarn).
std::string gguf_config_json(const GgufHeader& h);

// The Hugging Face name of a llama GGUF tensor ("blk.3.attn_q.weight" -> "model.layers.3.self_attn.q_proj.weight");
// throws naming the file and the tensor for a name we do not map.
std::string hf_tensor_name(const std::string& gguf_name, const GgufHeader& h);

// The whole file in `dtype` (float32, bfloat16 or float16) on the CPU; throws naming the file and the tensor for
// a type we cannot dequantize, a missing, unexpected or wrongly shaped tensor.
Policy policy_from_gguf(const std::string& path, at::ScalarType dtype);

}  // namespace grpo::policy
