#!/usr/bin/env python3
"""A tiny llama GGUF file written by the `gguf` package, with what transformers makes of it, for the tests of
`grpo convert --model FILE.gguf` (tests/policy/test_gguf_convert.cpp, tests/recipes/test_gguf_cli.sh).

The model is a random 2-layer transformers LlamaForCausalLM (hidden 32, 4 heads over 2 KV heads, head_dim 8, SwiGLU
64, untied lm_head) on a 270-token byte-level BPE vocabulary (<|endoftext|> <|im_start|> <|im_end|>, the 256 bytes,
11 merges; tokenizer.ggml.pre "smollm"; a ChatML chat template). Its tensors are written as llama.cpp's converter
writes them (names, attn_q / attn_k rows permuted by LlamaModel.permute) in every type grpo reads: F32 (norms, one
o_proj), F16, BF16, Q8_0, Q4_0 and Q4_1, quantized by gguf.quants.

Writes tests/fixtures/gguf/:
  tiny_llama.gguf          the file (about 40 KB)
  tiny_llama_expected.safetensors
                           transformers' float32 tensors of AutoModelForCausalLM.from_pretrained(gguf_file=...),
                           checked here to equal gguf.quants.dequantize with the q/k permutation undone
  tiny_llama_reference.json  transformers' config values, tokenizer ids of a few strings (SmolLM2's pre-tokenizer:
                           Digits(individual_digits) + ByteLevel), per-token log-probs of two sequences and a
                           12-token greedy continuation (seed kept only if every greedy step wins by 0.02 logits)

Run from the repository root with the virtualenv of scripts/requirements.txt:
    ~/grpo-venv/bin/python scripts/make_gguf_fixture.py
"""
import json
import os
import tempfile

import numpy as np
import torch
import transformers
from gguf import GGMLQuantizationType as Q
from gguf import GGUFReader, GGUFWriter
from gguf.quants import dequantize, quantize
from safetensors.torch import save_file
from tokenizers import pre_tokenizers
from transformers.convert_slow_tokenizer import bytes_to_unicode

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
OUT = os.path.join(ROOT, "tests", "fixtures", "gguf")
GREEDY_MARGIN = 0.02
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
MERGES = [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("i", "n"), ("Ġ", "a"), ("e", "r"), ("o", "n"), ("Ġ", "c"),
          ("a", "t"), ("Ġc", "at"), ("Ġ", "Ġ")]
CHAT_TEMPLATE = ("{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + "
                 "'<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}"
                 "{% endif %}")
TEXTS = ["the cat sat on 123 mats", "<|im_start|>user\nin there? 4.5<|im_end|>\n", "  two  spaces\tand tab!"]
# GGUF name suffix -> type, per layer; every type grpo reads appears.
TYPES = [
    {"attn_q": Q.Q4_0, "attn_k": Q.Q4_1, "attn_v": Q.F16, "attn_output": Q.Q8_0, "ffn_gate": Q.Q4_1,
     "ffn_up": Q.Q4_0, "ffn_down": Q.F16},
    {"attn_q": Q.Q4_1, "attn_k": Q.Q4_0, "attn_v": Q.Q8_0, "attn_output": Q.F32, "ffn_gate": Q.BF16,
     "ffn_up": Q.Q8_0, "ffn_down": Q.Q4_1},
]
HF = {"attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
      "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
      "ffn_down": "mlp.down_proj"}


def vocabulary():
    spell = bytes_to_unicode()
    tokens = SPECIALS + [spell[b] for b in range(256)] + [a + b for a, b in MERGES]
    types = [3] * len(SPECIALS) + [1] * (len(tokens) - len(SPECIALS))
    return tokens, types, [f"{a} {b}" for a, b in MERGES]


def permute(w, n_head):
    """convert_hf_to_gguf.py's LlamaModel.permute: rotate-half rows -> interleaved rows."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def encode(w, qtype):
    """(array, raw_dtype) for GGUFWriter.add_tensor."""
    if qtype == Q.F32:
        return w.astype(np.float32), None
    if qtype == Q.F16:
        return w.astype(np.float16), None
    return quantize(w.astype(np.float32), qtype), qtype


def write_gguf(path, cfg, sd, seed):
    tokens, types, merges = vocabulary()
    w = GGUFWriter(path, "llama")
    w.add_name(f"grpo tiny llama fixture (seed {seed})")
    w.add_context_length(cfg.max_position_embeddings)
    w.add_embedding_length(cfg.hidden_size)
    w.add_block_count(cfg.num_hidden_layers)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_head_count(cfg.num_attention_heads)
    w.add_head_count_kv(cfg.num_key_value_heads)
    w.add_rope_freq_base(cfg.rope_parameters["rope_theta"])
    w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    w.add_rope_dimension_count(cfg.head_dim)
    w.add_vocab_size(cfg.vocab_size)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("smollm")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_pad_token_id(2)
    w.add_add_bos_token(False)
    w.add_chat_template(CHAT_TEMPLATE)
    t = {k: v.float().numpy() for k, v in sd.items()}
    tensors = [("token_embd.weight", t["model.embed_tokens.weight"], Q.Q8_0),
               ("output_norm.weight", t["model.norm.weight"], Q.F32),
               ("output.weight", t["lm_head.weight"], Q.BF16)]
    for i, layer_types in enumerate(TYPES):
        p = f"model.layers.{i}."
        tensors.append((f"blk.{i}.attn_norm.weight", t[p + "input_layernorm.weight"], Q.F32))
        tensors.append((f"blk.{i}.ffn_norm.weight", t[p + "post_attention_layernorm.weight"], Q.F32))
        for g, qtype in layer_types.items():
            x = t[p + HF[g] + ".weight"]
            if g == "attn_q":
                x = permute(x, cfg.num_attention_heads)
            elif g == "attn_k":
                x = permute(x, cfg.num_key_value_heads)
            tensors.append((f"blk.{i}.{g}.weight", x, qtype))
    for name, x, qtype in tensors:
        data, raw = encode(x, qtype)
        w.add_tensor(name, data, raw_dtype=raw)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def random_model(seed):
    torch.manual_seed(seed)
    cfg = transformers.LlamaConfig(vocab_size=len(vocabulary()[0]), hidden_size=32, intermediate_size=64,
                                   num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=8,
                                   max_position_embeddings=256, rms_norm_eps=1e-5, rope_theta=100000.0,
                                   tie_word_embeddings=False, bos_token_id=1, eos_token_id=2, pad_token_id=2)
    model = transformers.LlamaForCausalLM(cfg)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1:
                p.copy_(1.0 + 0.2 * torch.randn_like(p))
            else:
                p.copy_(torch.randn_like(p) * 0.7 / p.shape[1] ** 0.5)
    return cfg, model


def greedy(model, prompt, n):
    ids, margins = list(prompt), []
    with torch.no_grad():
        for _ in range(n):
            logits = model(torch.tensor([ids])).logits[0, -1]
            top = torch.topk(logits, 2).values
            margins.append(float(top[0] - top[1]))
            ids.append(int(torch.argmax(logits)))
    return ids[len(prompt):], min(margins)


def logprobs(model, seq):
    with torch.no_grad():
        lp = torch.log_softmax(model(torch.tensor([seq])).logits[0, :-1].float(), -1)
    return lp.gather(1, torch.tensor(seq[1:]).unsqueeze(1)).squeeze(1).tolist()


def main():
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, "tiny_llama.gguf")
    sequences = [[1, 263, 3, 40, 100, 200, 150, 20, 2, 268], [50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61]]
    prompt = [1, 86, 104, 101, 263, 100, 2]
    for seed in range(100):
        cfg, src = random_model(seed)
        with tempfile.TemporaryDirectory() as tmp:
            tmp_path = os.path.join(tmp, "m.gguf")
            write_gguf(tmp_path, cfg, src.state_dict(), seed)
            model = transformers.AutoModelForCausalLM.from_pretrained(tmp, gguf_file="m.gguf", dtype=torch.float32)
        model.eval()
        cont, margin = greedy(model, prompt, 12)
        if margin >= GREEDY_MARGIN:
            break
    else:
        raise SystemExit("no seed gives a clear greedy continuation")
    write_gguf(path, cfg, src.state_dict(), seed)

    # transformers' tensors must be gguf-py's dequantization with the permutation undone.
    sd = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    reader = GGUFReader(path)
    hf_names = {"token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight",
                "output.weight": "lm_head.weight"}
    for t in reader.tensors:
        if t.name in hf_names:
            name = hf_names[t.name]
        else:
            _, i, g, _ = t.name.split(".")
            name = f"model.layers.{i}." + {"attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm"}.get(
                g, HF.get(g, g)) + ".weight"
        x = np.asarray(dequantize(t.data, t.tensor_type), np.float32).reshape(tuple(reversed(t.shape.tolist())))
        if ".attn_q." in t.name or ".attn_k." in t.name:
            n = cfg.num_attention_heads if ".attn_q." in t.name else cfg.num_key_value_heads
            x = x.reshape(n, x.shape[0] // n // 2, 2, *x.shape[1:]).swapaxes(1, 2).reshape(x.shape)
        assert np.array_equal(x, sd[name].numpy()), t.name
    assert len(sd) == len(reader.tensors)
    save_file(sd, os.path.join(OUT, "tiny_llama_expected.safetensors"), metadata={"format": "pt"})

    d, name = OUT, "tiny_llama.gguf"
    tok = transformers.AutoTokenizer.from_pretrained(d, gguf_file=name)
    tok.backend_tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)])
    types = {t.name: t.tensor_type.name for t in reader.tensors}
    c = model.config
    ref = {
        "seed": seed,
        "tensor_types": types,
        "config": {"vocab_size": c.vocab_size, "hidden_size": c.hidden_size, "num_hidden_layers": c.num_hidden_layers,
                   "num_attention_heads": c.num_attention_heads, "num_key_value_heads": c.num_key_value_heads,
                   "head_dim": c.head_dim, "intermediate_size": c.intermediate_size,
                   "max_position_embeddings": c.max_position_embeddings, "rms_norm_eps": c.rms_norm_eps,
                   "rope_theta": c.rope_parameters["rope_theta"], "tie_word_embeddings": c.tie_word_embeddings,
                   "bos_token_id": c.bos_token_id, "eos_token_id": c.eos_token_id, "pad_token_id": c.pad_token_id},
        "chat_template": CHAT_TEMPLATE,
        "texts": TEXTS,
        "text_ids": [tok.encode(t, add_special_tokens=False) for t in TEXTS],
        "sequences": sequences,
        "logprobs": [logprobs(model, s) for s in sequences],
        "greedy_prompt": prompt,
        "greedy_tokens": cont,
        "greedy_margin": margin,
    }
    with open(os.path.join(OUT, "tiny_llama_reference.json"), "w") as f:
        json.dump(ref, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"seed {seed}: greedy {cont} (margin {margin:.3f}); wrote {OUT}")


if __name__ == "__main__":
    main()
