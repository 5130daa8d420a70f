#!/usr/bin/env python3
"""The peer of `grpo bench decode`: transformers' generate on the same checkpoint, same shapes (S prompts of P tokens,
G samples each, exactly N new tokens each, T = 1, no top-k/top-p), one JSON line on stdout. Run by scripts/gpu-check on the
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
    ap.add_argument("--samples", type=int, default=1, help="completions per prompt (num_return_sequences)")
    ap.add_argument("--prompts", help="prompt ids, one JSON array per line (grpo bench decode --save-prompts)")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    dtype = getattr(torch, a.dtype)
    model = transformers.AutoModelForCausalLM.from_pretrained(a.model, dtype=dtype).to(a.device).eval()
    if a.prompts:
        rows = [json.loads(l) for l in open(a.prompts) if l.strip()]
        assert len({len(r) for r in rows}) == 1, "prompts of one length expected"
        ids = torch.tensor(rows, dtype=torch.long).to(a.device)
        a.sequences, a.prompt_len = ids.shape
    else:
        gen = torch.Generator().manual_seed(1)
        vocab = model.config.vocab_size
        ids = torch.randint(0, min(vocab, 151643), (a.sequences, a.prompt_len), generator=gen).to(a.device)
    mask = torch.ones_like(ids)

    def run(n):
        cfg = transformers.GenerationConfig(max_new_tokens=n, min_new_tokens=n, do_sample=True, temperature=1.0,
                                            top_k=0, top_p=1.0, pad_token_id=0, eos_token_id=None,
                                            num_return_sequences=a.samples)
        if a.device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        with torch.inference_mode():
            out = model.generate(input_ids=ids, attention_mask=mask, generation_config=cfg)
        if a.device.startswith("cuda"):
            torch.cuda.synchronize()
        assert out.shape[0] == a.sequences * a.samples
        return time.perf_counter() - t0, out.shape[1] - a.prompt_len

    run(min(4, a.new_tokens))  # warm-up
    if a.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    secs, new = run(a.new_tokens)
    tokens = a.sequences * a.samples * new
    print(json.dumps({"bench": "hf_generate", "model": a.model, "device": a.device, "dtype": a.dtype,
                      "sequences": a.sequences, "samples": a.samples, "prompt_len": a.prompt_len,
                      "threads": torch.get_num_threads(), "new_tokens": new,
                      "generated_tokens": tokens, "seconds": secs, "tokens_per_s": tokens / secs,
                      "transformers": transformers.__version__, "torch": torch.__version__,
                      "peak_memory_mb": torch.cuda.max_memory_allocated() / 2**20
                      if a.device.startswith("cuda") else -1}))


if __name__ == "__main__":
    main()
