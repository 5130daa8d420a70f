#!/usr/bin/env python3
"""The peer of `grpo bench decode`: transformers' generate on the same checkpoint, same shapes (S random prompts of P
tokens, exactly N new tokens each, T = 1, no top-k/top-p), one JSON line on stdout. Run by scripts/gpu-check on the
GPU machine (which has torch and transformers); runs on the CPU too (--device cpu) for a local check."""
import argparse
import json
import time

import torch
import transformers


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", required=True)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float32"])
    ap.add_argument("--sequences", type=int, default=64)
    ap.add_argument("--prompt-len", type=int, default=64)
    ap.add_argument("--new-tokens", type=int, default=128)
    a = ap.parse_args()
    dtype = getattr(torch, a.dtype)
    model = transformers.AutoModelForCausalLM.from_pretrained(a.model, dtype=dtype).to(a.device).eval()
    gen = torch.Generator().manual_seed(1)
    vocab = model.config.vocab_size
    ids = torch.randint(0, min(vocab, 151643), (a.sequences, a.prompt_len), generator=gen).to(a.device)
    mask = torch.ones_like(ids)

    def run(n):
        cfg = transformers.GenerationConfig(max_new_tokens=n, min_new_tokens=n, do_sample=True, temperature=1.0,
                                            top_k=0, top_p=1.0, pad_token_id=0, eos_token_id=None)
        if a.device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        with torch.inference_mode():
            out = model.generate(input_ids=ids, attention_mask=mask, generation_config=cfg)
        if a.device.startswith("cuda"):
            torch.cuda.synchronize()
        return time.perf_counter() - t0, out.shape[1] - a.prompt_len

    run(min(4, a.new_tokens))  # warm-up
    if a.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    secs, new = run(a.new_tokens)
    tokens = a.sequences * new
    print(json.dumps({"bench": "hf_generate", "model": a.model, "device": a.device, "dtype": a.dtype,
                      "sequences": a.sequences, "prompt_len": a.prompt_len, "new_tokens": new,
                      "generated_tokens": tokens, "seconds": secs, "tokens_per_s": tokens / secs,
                      "transformers": transformers.__version__, "torch": torch.__version__,
                      "peak_memory_mb": torch.cuda.max_memory_allocated() / 2**20
                      if a.device.startswith("cuda") else -1}))


if __name__ == "__main__":
    main()
