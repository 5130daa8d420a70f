#!/usr/bin/env python3
"""Tiny random Hugging Face checkpoints of every architecture grpo.cpp reads, with transformers' reference
log-probs, for the parity tests in tests/policy/test_hf_parity.cpp.

Set-up (CPU is enough; versions pinned in scripts/requirements.txt):
    python3 -m venv ~/grpo-venv && ~/grpo-venv/bin/pip install -r scripts/requirements.txt
Regenerate the fixtures (writes tests/fixtures/models/<name>/; --only NAME... for some of them):
    ~/grpo-venv/bin/python scripts/make_model_fixtures.py [--only llama mistral]
Check that checkpoints *we* saved load in transformers with the reference log-probs (--only works here too):
    ~/grpo-venv/bin/python scripts/make_model_fixtures.py --check-saved build/grpo

Each fixture directory holds config.json, the weights (some F32, some BF16, one sharded with an index) and
reference.json: a few token sequences with transformers' per-token log-probs in float32 and bfloat16, a prompt
with its 16-token greedy continuation, and the parameter count. Weights are re-drawn so that every parameter
matters (random norm weights, biases and router score biases; O(1) activations), and a seed is kept only if every
greedy step wins by a clear margin, so the continuation is not decided by rounding.
"""
import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile

import torch
import transformers
from safetensors.torch import load_file, save_file

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
OUT = os.path.join(ROOT, "tests", "fixtures", "models")
VOCAB = 96
GREEDY_MARGIN = 0.02  # minimum logit gap between the best and second-best token at every greedy step
WEIGHT_SCALE = 0.5  # matrices N(0, (scale^2 / fan_in)): activations below 1, so bf16 rounding stays small

COMMON = dict(vocab_size=VOCAB, hidden_size=64, num_attention_heads=4, max_position_embeddings=256,
              rms_norm_eps=1e-6, bos_token_id=1, eos_token_id=2, pad_token_id=0)

# fixture name -> (config kwargs, on-disk dtype, shard size or None, config form). Forms: "v5" (rope_parameters, as
# transformers 5 writes), "v4" (rope_theta + rope_scaling {"type": ...}), "v4_rope_type" (rope_scaling
# {"rope_type": ...}, as Llama 3.x checkpoints on the Hub have it). New entries go at the end: a fixture's seed
# follows its position.
ARCHS = {
    "qwen2": (dict(model_type="qwen2", num_hidden_layers=2, num_key_value_heads=2, intermediate_size=96,
                   rope_theta=1e6, tie_word_embeddings=True), torch.bfloat16, None, "v4"),
    "qwen3": (dict(model_type="qwen3", num_hidden_layers=2, num_key_value_heads=2, head_dim=32,
                   intermediate_size=96, attention_bias=True, rope_theta=1e6, tie_word_embeddings=False),
              torch.float32, "200KB", "v5"),
    "qwen3_moe": (dict(model_type="qwen3_moe", num_hidden_layers=3, num_key_value_heads=2, head_dim=16,
                       intermediate_size=96, moe_intermediate_size=32, num_experts=4, num_experts_per_tok=2,
                       norm_topk_prob=True, decoder_sparse_step=1, mlp_only_layers=[1], rope_theta=1e6),
                  torch.float32, None, "v4"),
    "mixtral": (dict(model_type="mixtral", num_hidden_layers=2, num_key_value_heads=2, intermediate_size=32,
                     num_local_experts=4, num_experts_per_tok=2, rope_theta=1e6, rms_norm_eps=1e-5,
                     sliding_window=None), torch.bfloat16, None, "v5"),
    "olmoe": (dict(model_type="olmoe", num_hidden_layers=2, num_key_value_heads=4, intermediate_size=32,
                   num_experts=4, num_experts_per_tok=2, norm_topk_prob=False, clip_qkv=1.5, rms_norm_eps=1e-5),
              torch.float32, None, "v4"),
    "deepseek_v3": (dict(model_type="deepseek_v3", num_hidden_layers=3, num_key_value_heads=4, intermediate_size=96,
                         moe_intermediate_size=32, n_routed_experts=8, n_shared_experts=1, num_experts_per_tok=2,
                         n_group=4, topk_group=2, routed_scaling_factor=2.5, norm_topk_prob=True,
                         first_k_dense_replace=1, q_lora_rank=32, kv_lora_rank=16, qk_nope_head_dim=16,
                         qk_rope_head_dim=8, v_head_dim=16, rope_interleave=True, num_nextn_predict_layers=1,
                         rope_theta=10000.0,
                         rope_scaling=dict(type="yarn", factor=4.0, original_max_position_embeddings=64,
                                           beta_fast=32, beta_slow=1, mscale=1.0, mscale_all_dim=1.0)),
                    torch.float32, None, "v4"),
    "deepseek_v2": (dict(model_type="deepseek_v2", num_hidden_layers=2, num_key_value_heads=4, intermediate_size=96,
                         moe_intermediate_size=32, n_routed_experts=4, n_shared_experts=2, num_experts_per_tok=2,
                         n_group=2, topk_group=1, topk_method="group_limited_greedy", routed_scaling_factor=1.5,
                         first_k_dense_replace=0, q_lora_rank=None, kv_lora_rank=16, qk_nope_head_dim=16,
                         qk_rope_head_dim=8, v_head_dim=16, attention_bias=False, rope_theta=10000.0),
                    torch.float32, None, "v5"),
    # Llama 3.1-style rope: with head_dim 16 and theta 5e5 the wavelengths are 6, 32, 167, ... so an original
    # context of 64 (low_freq_factor 1, high_freq_factor 4: band [16, 64]) keeps one frequency, blends one and
    # divides the other six by the factor.
    "llama": (dict(model_type="llama", num_hidden_layers=2, num_key_value_heads=2, intermediate_size=96,
                   tie_word_embeddings=False, attention_bias=False, mlp_bias=False,
                   rope_parameters=dict(rope_type="llama3", rope_theta=500000.0, factor=8.0, low_freq_factor=1.0,
                                        high_freq_factor=4.0, original_max_position_embeddings=64)),
              torch.float32, None, "v4_rope_type"),
    "llama_tied": (dict(model_type="llama", num_hidden_layers=2, num_key_value_heads=4, intermediate_size=96,
                        tie_word_embeddings=True, attention_bias=True, rope_theta=500000.0),
                   torch.bfloat16, None, "v5"),
    "mistral": (dict(model_type="mistral", num_hidden_layers=2, num_key_value_heads=2, head_dim=24,
                     intermediate_size=96, sliding_window=None, rope_theta=1e6),
                torch.float32, "100KB", "v5"),
}


def make_config(kw):
    kw = dict(COMMON, **kw)
    model_type = kw.pop("model_type")
    return transformers.AutoConfig.for_model(model_type, **kw)


def redraw(model, seed):
    """O(1) activations and no trivially-initialised tensor: a weight we fail to load shows in the log-probs."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() >= 2:
                p.copy_(torch.randn(p.shape, generator=g) * (WEIGHT_SCALE / math.sqrt(p.shape[-1])))
            elif name.endswith("bias"):
                p.copy_(torch.randn(p.shape, generator=g) * 0.2)
            else:  # norm weights
                p.copy_(0.5 + torch.rand(p.shape, generator=g))
        for name, b in model.named_buffers():
            if name.endswith("e_score_correction_bias"):
                b.copy_(torch.randn(b.shape, generator=g) * 0.05)


def sequences(seed):
    g = torch.Generator().manual_seed(seed + 1000)
    return [torch.randint(3, VOCAB, (n,), generator=g).tolist() for n in (12, 7, 20)]


@torch.no_grad()
def token_logprobs(model, seq):
    ids = torch.tensor([seq])
    logits = model(input_ids=ids).logits[0].float()
    lp = torch.log_softmax(logits[:-1], -1)
    return lp.gather(1, ids[0, 1:, None])[:, 0].tolist()


@torch.no_grad()
def greedy(model, prompt, n=16):
    """Greedy continuation with full forwards (no cache); returns the tokens and the smallest top-2 logit gap."""
    ids = list(prompt)
    margin = float("inf")
    for _ in range(n):
        logits = model(input_ids=torch.tensor([ids])).logits[0, -1].float()
        top = torch.topk(logits, 2).values
        margin = min(margin, float(top[0] - top[1]))
        ids.append(int(torch.argmax(logits)))
    return ids[len(prompt):], margin


def load(path, dtype):
    return transformers.AutoModelForCausalLM.from_pretrained(path, dtype=dtype, attn_implementation="eager").eval()


def to_v4_config(path, type_key="type"):
    """Rewrites a saved config.json into the older form: rope_theta (+ rope_scaling, its kind under `type_key`) at
    the top level."""
    cfg_path = os.path.join(path, "config.json")
    with open(cfg_path) as f:
        cfg = json.load(f)
    rp = cfg.pop("rope_parameters", None)
    if rp:
        cfg["rope_theta"] = rp.pop("rope_theta", 10000.0)
        rope_type = rp.pop("rope_type", "default")
        rp.pop("type", None)
        cfg["rope_scaling"] = None if rope_type == "default" else {type_key: rope_type, **rp}
    if "dtype" in cfg:
        cfg["torch_dtype"] = cfg.pop("dtype")
    with open(cfg_path, "w") as f:
        json.dump(cfg, f, indent=2)


def add_mtp_tensors(path, config):
    """DeepSeek-V3 checkpoints carry the multi-token-prediction module as layer n_layer; transformers skips it
    and so must we. transformers does not write it, so add a few such tensors by hand."""
    f = os.path.join(path, "model.safetensors")
    tensors = load_file(f)
    n = config.num_hidden_layers
    h = config.hidden_size
    tensors[f"model.layers.{n}.enorm.weight"] = torch.ones(h)
    tensors[f"model.layers.{n}.eh_proj.weight"] = torch.zeros(h, 2 * h)
    save_file(tensors, f, metadata={"format": "pt"})


def make(arch, kw, dtype, shard, form, base_seed):
    out = os.path.join(OUT, arch)
    for attempt in range(50):
        seed = base_seed + 17 * attempt
        torch.manual_seed(seed)
        config = make_config(kw)
        model = transformers.AutoModelForCausalLM.from_config(config, attn_implementation="eager")
        redraw(model, seed)
        tmp = tempfile.mkdtemp()
        model.to(dtype).save_pretrained(tmp, max_shard_size=shard or "50MB")
        if form == "v4":
            to_v4_config(tmp)
        elif form == "v4_rope_type":
            to_v4_config(tmp, "rope_type")
        if arch == "deepseek_v3":
            add_mtp_tensors(tmp, config)
        ref = load(tmp, torch.float32)  # the references come from the files as written (rounded weights)
        prompt = sequences(seed)[0][:4]
        cont, margin = greedy(ref, prompt)
        if margin < GREEDY_MARGIN:
            shutil.rmtree(tmp)
            continue
        ref_bf16 = load(tmp, torch.bfloat16)
        seqs = sequences(seed)
        reference = {
            "model_type": config.model_type,
            "transformers": transformers.__version__,
            "torch": torch.__version__,
            "seed": seed,
            "dtype_on_disk": str(dtype).replace("torch.", ""),
            "num_parameters": sum(p.numel() for p in ref.parameters()),
            "sequences": seqs,
            "logprobs_f32": [token_logprobs(ref, s) for s in seqs],
            "logprobs_bf16": [token_logprobs(ref_bf16, s) for s in seqs],
            "greedy_prompt": prompt,
            "greedy_tokens": cont,
            "greedy_margin": margin,
        }
        with open(os.path.join(tmp, "reference.json"), "w") as f:
            json.dump(reference, f, indent=1)
        shutil.rmtree(out, ignore_errors=True)
        shutil.move(tmp, out)
        os.chmod(out, 0o755)
        files = sorted(os.listdir(out))
        size = sum(os.path.getsize(os.path.join(out, x)) for x in files)
        print(f"{arch}: seed {seed}, {reference['num_parameters']} parameters, {size / 1e3:.0f} kB, "
              f"greedy margin {margin:.3f}, files {files}")
        return
    sys.exit(f"{arch}: no seed with a greedy margin >= {GREEDY_MARGIN}")


def check_saved(grpo, only):
    """Each fixture -> `grpo convert` (our loader and writer, f32 and bf16) -> transformers -> same log-probs."""
    worst = 0.0
    for arch in ARCHS:
        if only and arch not in only:
            continue
        src = os.path.join(OUT, arch)
        with open(os.path.join(src, "reference.json")) as f:
            ref = json.load(f)
        for dtype in ("float32", "bfloat16"):
            with tempfile.TemporaryDirectory() as tmp:
                dst = os.path.join(tmp, "out")
                subprocess.run([grpo, "convert", "--model", src, "--out", dst, "--dtype", dtype,
                                "--shard-mb", "0.1"], check=True, stdout=subprocess.DEVNULL)
                model = load(dst, torch.float32 if dtype == "float32" else torch.bfloat16)
                got = [token_logprobs(model, s) for s in ref["sequences"]]
                want = ref["logprobs_f32" if dtype == "float32" else "logprobs_bf16"]
                diff = max(abs(a - b) for g, w in zip(got, want) for a, b in zip(g, w))
                tol = 1e-5 if dtype == "float32" else 2e-2
                status = "ok" if diff <= tol else "FAIL"
                worst = max(worst, diff if dtype == "float32" else 0.0)
                shards = len([x for x in os.listdir(dst) if x.endswith(".safetensors")])
                print(f"{status}: {arch} saved by grpo as {dtype} ({shards} shards) loads in transformers; "
                      f"max |logprob diff| {diff:.2e} (tol {tol:g})")
                if status != "ok":
                    sys.exit(1)
    print(f"all saved checkpoints load in transformers; worst float32 diff {worst:.2e}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check-saved", metavar="GRPO", help="path of the grpo binary; check saved checkpoints")
    ap.add_argument("--only", nargs="*", choices=list(ARCHS), metavar="NAME",
                    help=f"fixtures to regenerate or check (default: all of {', '.join(ARCHS)})")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.check_saved:
        check_saved(args.check_saved, args.only)
        return
    os.makedirs(OUT, exist_ok=True)
    for i, (arch, (kw, dtype, shard, form)) in enumerate(ARCHS.items()):
        if args.only and arch not in args.only:
            continue
        make(arch, kw, dtype, shard, form, base_seed=100 * (i + 1))


if __name__ == "__main__":
    main()
