#!/usr/bin/env python3
"""Checks that a checkpoint directory written by grpo loads in transformers and scores grpo's own samples the same.

  (a) AutoTokenizer and AutoModelForCausalLM load the directory as it is; a failure is printed with its cause, and
      weights transformers had to leave randomly initialised (missing or mis-shaped tensors) are a failure too;
  (b) the Hugging Face tokenizer encodes a few strings to the ids `grpo tokenize` gives (without and with --bos);
  (c) `grpo generate --temperature 1 --n 2 --max-new-tokens 16 --seed 1` samples completions of a few prompts
      (random prompt_ids from the tokenizer's vocabulary, and text prompts encoded by the HF tokenizer); transformers
      recomputes, in float32, the log-softmax of each sampled token given the prompt and the previous tokens, and
      the largest |difference| from grpo's logprobs must be within 1e-4 (float32 weights) or 2e-2 (16-bit weights).
The model runs in float32 on the CPU in both programs. When config.json's vocab_size exceeds the tokenizer's
size, grpo limits the output to the tokenizer's ids, so (c) compares the log-softmax over those ids and also
prints the full-vocabulary difference. It does not test training: any directory grpo writes (sft, grpo,
convert) can be checked. Exit status 0 only when (a), (b) and (c) all pass.

Run (from the repository root, with the virtualenv of scripts/requirements.txt):
    ~/grpo-venv/bin/python scripts/check_hf_checkpoint.py runs/x/grpo/checkpoints/step_000002 --grpo build/grpo
e.g. on a checkpoint made in a second:
    build/grpo sft recipes/countdown-tiny.toml run.out_dir=/tmp/ck model.preset=test-moe sft.steps=2 \\
        sft.batch_size=8 data.eval_size=20
    ~/grpo-venv/bin/python scripts/check_hf_checkpoint.py /tmp/ck/sft/checkpoints/step_000002 --grpo build/grpo
"""
import argparse
import json
import os
import random
import struct
import subprocess
import sys
import tempfile
import traceback

import torch
import transformers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOL_F32 = 1e-4  # float32 weights: both programs do the same float32 math, up to summation order
TOL_16 = 2e-2  # bfloat16 / float16 weights
TEXTS = ["Hello world", "03,15,07=022:<think>15+7=22,22*3=66</think><answer>(15+7)*3</answer>",
         "a\nb  c\t!  ", "{\"x\": [1, 2]} \\ ~", "naïve café, 3 €"]
PROMPT_TEXTS = ["03,15,07=022:", "The answer is"]


def weight_dtypes(ckpt):
    """The set of safetensors dtypes of the checkpoint's floating-point tensors (read from the headers only)."""
    dtypes = set()
    for name in sorted(os.listdir(ckpt)):
        if not name.endswith(".safetensors"):
            continue
        with open(os.path.join(ckpt, name), "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(n))
        dtypes |= {v["dtype"] for k, v in header.items() if k != "__metadata__" and v["dtype"][0] in "FB"}
    return dtypes


def load_hf(ckpt):
    """(tokenizer, model, problems): each failure becomes a line in problems instead of an exception."""
    problems, tok, model = [], None, None
    try:
        tok = transformers.AutoTokenizer.from_pretrained(ckpt)
    except Exception as e:  # noqa: BLE001 -- any failure to load is the finding
        problems.append(f"AutoTokenizer.from_pretrained({ckpt}) failed: {type(e).__name__}: {e}")
        traceback.print_exc()
    try:
        model, info = transformers.AutoModelForCausalLM.from_pretrained(
            ckpt, dtype=torch.float32, attn_implementation="eager", output_loading_info=True)
        model.eval()
        for key in ("missing_keys", "mismatched_keys"):
            if info.get(key):
                problems.append(f"AutoModelForCausalLM.from_pretrained({ckpt}): {key} (left randomly initialised): "
                                f"{sorted(info[key])[:5]} ({len(info[key])} in all)")
        if info.get("unexpected_keys"):
            print(f"note: transformers ignored {len(info['unexpected_keys'])} tensors of the checkpoint: "
                  f"{sorted(info['unexpected_keys'])[:5]}")
    except Exception as e:  # noqa: BLE001
        problems.append(f"AutoModelForCausalLM.from_pretrained({ckpt}) failed: {type(e).__name__}: {e}")
        traceback.print_exc()
    return tok, model, problems


def note_tokenizer_class(ckpt, tok):
    """Prints a note when AutoTokenizer did not build the class tokenizer_config.json names (transformers 5
    substitutes its own class for some model types, e.g. Qwen2Tokenizer for qwen2, with its own pre-tokenizer)."""
    path = os.path.join(ckpt, "tokenizer_config.json")
    if not os.path.exists(path):
        return
    with open(path) as f:
        declared = json.load(f).get("tokenizer_class") or ""
    got = type(tok).__name__
    same = {"PreTrainedTokenizerFast", "TokenizersBackend"}
    if declared and declared.removesuffix("Fast") != got.removesuffix("Fast") and not {declared, got} <= same:
        print(f"note: tokenizer_config.json names {declared} but AutoTokenizer built {got} "
              f"(pre-tokenizer {tok.backend_tokenizer.pre_tokenizer if hasattr(tok, 'backend_tokenizer') else '?'})")


def grpo_tokenize(grpo, ckpt, texts, bos, tmp):
    path = os.path.join(tmp, "texts.jsonl")
    with open(path, "w") as f:
        for t in texts:
            f.write(json.dumps({"text": t}) + "\n")
    cmd = [grpo, "tokenize", "--tokenizer", ckpt, "--file", path, "--jsonl"] + (["--bos"] if bos else [])
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return [[int(x) for x in line.split()] for line in out.splitlines()]


def check_tokenizer(grpo, ckpt, tok, texts, tmp):
    """(b): the number of strings on which the two tokenizers disagree (printed)."""
    bad = 0
    for bos in (False, True):
        got = grpo_tokenize(grpo, ckpt, texts, bos, tmp)
        for text, ids in zip(texts, got):
            want = tok(text, add_special_tokens=bos)["input_ids"]
            if ids != want:
                bad += 1
                print(f"tokenizer MISMATCH ({'--bos / add_special_tokens=True' if bos else 'no BOS'}) on {text!r}:\n"
                      f"  grpo tokenize: {ids}\n  transformers:  {want}")
    print(f"tokenizer: {2 * len(texts) - bad} of {2 * len(texts)} encodings agree with `grpo tokenize`")
    return bad


def make_prompts(tok, n_random, seed):
    """Prompt id lists: n_random random ones from the tokenizer's ids, then PROMPT_TEXTS as the HF tokenizer
    encodes them (with its special tokens)."""
    rng = random.Random(seed)
    prompts = [[rng.randrange(len(tok)) for _ in range(rng.randint(3, 12))] for _ in range(n_random)]
    prompts += [tok(t)["input_ids"] for t in PROMPT_TEXTS]
    return [p for p in prompts if p]


@torch.no_grad()
def hf_logprobs(model, prompt, completion, n_tok):
    """Float32 log-softmax of each completion token given what precedes it: over the full vocabulary and over
    the first n_tok ids (what grpo samples from)."""
    ids = torch.tensor([prompt + completion])
    logits = model(input_ids=ids).logits[0, len(prompt) - 1:-1].float()  # [L, V]
    target = torch.tensor(completion)[:, None]
    full = torch.log_softmax(logits, -1).gather(1, target)[:, 0]
    cut = torch.log_softmax(logits[:, :n_tok], -1).gather(1, target)[:, 0]
    return full, cut


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", help="a checkpoint directory written by grpo")
    ap.add_argument("--grpo", default=os.path.join(ROOT, "build", "grpo"), help="the grpo binary (default build/grpo)")
    ap.add_argument("--prompts", type=int, default=3, help="random prompt_ids prompts besides the text ones (3)")
    ap.add_argument("--seed", type=int, default=1, help="grpo generate --seed and the prompt draw (1)")
    ap.add_argument("--tol", type=float, help=f"override the tolerance ({TOL_F32:g} float32, {TOL_16:g} 16-bit)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    ckpt = args.checkpoint
    print(f"checkpoint {ckpt}; transformers {transformers.__version__}, torch {torch.__version__}")

    tok, model, problems = load_hf(ckpt)
    for p in problems:
        print(f"FAIL: {p}")
    if tok is None or model is None:
        sys.exit(1)
    dtypes = weight_dtypes(ckpt)
    tol = args.tol if args.tol is not None else (TOL_F32 if dtypes <= {"F32"} else TOL_16)
    n_tok = len(tok)
    print(f"loaded: {type(model).__name__} (vocab_size {model.config.vocab_size}, weights {sorted(dtypes)}), "
          f"{type(tok).__name__} ({n_tok} tokens, eos {tok.eos_token!r} = {tok.eos_token_id})")

    note_tokenizer_class(ckpt, tok)
    with tempfile.TemporaryDirectory() as tmp:
        tok_bad = check_tokenizer(args.grpo, ckpt, tok, TEXTS, tmp)
        prompts = make_prompts(tok, args.prompts, args.seed)
        with open(os.path.join(tmp, "prompts.jsonl"), "w") as f:
            for p in prompts:
                f.write(json.dumps({"prompt_ids": p}) + "\n")
        out = os.path.join(tmp, "out.jsonl")
        # NOTE: every prompt is prompt_ids, so no chat template is used; "plain" keeps grpo from refusing a
        # checkpoint whose chat template it cannot render (it resolves the template before reading the prompts).
        cmd = [args.grpo, "generate", "--model", ckpt, "--prompts", os.path.join(tmp, "prompts.jsonl"),
               "--temperature", "1", "--n", "2", "--max-new-tokens", "16", "--seed", str(args.seed), "--output", out,
               "--chat-template", "plain"]
        run = subprocess.run(cmd, capture_output=True, text=True)
        if run.returncode != 0:
            print(f"FAIL: grpo generate exited {run.returncode}: {run.stderr.strip()}")
            sys.exit(1)
        with open(out) as f:
            lines = [json.loads(line) for line in f]

    if len(lines) != 2 * len(prompts):
        problems.append(f"grpo generate wrote {len(lines)} lines for {len(prompts)} prompts x 2 samples")
    worst = worst_full = 0.0
    n_tokens = 0
    for c in lines:
        ids, lp = c["token_ids"], c["logprobs"]
        if not ids or len(ids) != len(lp) or max(ids) >= n_tok:
            problems.append(f"line index {c['index']} sample {c['sample']}: {len(ids)} token_ids (max "
                            f"{max(ids, default=-1)}), {len(lp)} logprobs")
            continue
        full, cut = hf_logprobs(model, prompts[c["index"]], ids, n_tok)
        got = torch.tensor(lp, dtype=torch.float32)
        diff = float((got - cut).abs().max())
        worst = max(worst, diff)
        worst_full = max(worst_full, float((got - full).abs().max()))
        n_tokens += len(ids)
        print(f"prompt {c['index']} sample {c['sample']}: {len(ids)} tokens ({c['finish_reason']}), "
              f"max |logprob diff| {diff:.2e}")
    if n_tok < model.config.vocab_size:
        print(f"note: vocab_size {model.config.vocab_size} > {n_tok} tokenizer ids; over the full vocabulary the "
              f"max |logprob diff| is {worst_full:.2e}")
    for p in problems:
        print(f"FAIL: {p}")
    lp_ok = not problems and n_tokens > 0 and worst <= tol
    print(f"log-probs: {n_tokens} sampled tokens of {len(prompts)} prompts x 2, max |grpo - transformers| "
          f"{worst:.3e} (tolerance {tol:g}): {'PASS' if lp_ok else 'FAIL'}")
    print(f"tokenizer: {'PASS' if tok_bad == 0 else 'FAIL'}")
    ok = lp_ok and tok_bad == 0
    print("PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
