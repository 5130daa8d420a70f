#!/usr/bin/env python3
"""Reference values of TRL's GRPO losses for tests/rl/test_loss.cpp.

Calls TRL's own GRPOTrainer._compute_loss (PyPI trl, pinned in scripts/requirements.txt) on fixed random inputs:
the model forward is replaced by a function returning the fixture's per-token log-probs and entropies (leaf
tensors), so the loss and its gradient with respect to them are TRL's arithmetic, unchanged. One case per loss type
and option grpo.cpp maps to: grpo, bnpo, dr_grpo, dapo (clip-higher), dual clip (TRL's delta), cispo, sapo, luspo,
GSPO (importance_sampling_level = sequence), KL (k3, beta > 0), truncated importance sampling weights, entropy bonus.

    ~/grpo-venv/bin/python scripts/make_loss_fixtures.py > tests/fixtures/loss/trl_loss_fixtures.json
"""
import json
import sys
import types
from collections import defaultdict

import torch
import trl
from trl.trainer.grpo_trainer import GRPOTrainer

B, T = 6, 7  # sequences, completion length (the padded width TRL sees)


class OneProcess:
    """accelerate's Accelerator for a single process: gathers and reductions are the identity."""
    num_processes = 1
    sync_gradients = True

    def gather(self, x):
        return x

    gather_for_metrics = gather

    def reduce(self, x, reduction="sum"):
        return x


def make_inputs(seed):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([7, 5, 3, 6, 1, 4])
    mask = (torch.arange(T).unsqueeze(0) < lengths.unsqueeze(1)).float()
    logps = -torch.rand(B, T, generator=g, dtype=torch.float64).float() * 3.0 - 0.05
    # old log-probs: mostly near, some far (ratios well outside any clip range, both sides)
    noise = torch.randn(B, T, generator=g) * 0.25
    noise[0, 1], noise[1, 2], noise[3, 0], noise[3, 4] = 1.6, -1.4, -2.0, 1.9
    old = logps - noise
    ref = logps + torch.randn(B, T, generator=g) * 0.3
    adv = torch.tensor([1.2, -0.7, 0.4, -1.5, 0.9, -0.2])
    ent = torch.rand(B, T, generator=g) * 2.0
    is_ratio = torch.exp(torch.randn(B, T, generator=g) * 0.3).clamp(max=2.0)  # truncated IS weights, cap 2
    return dict(mask=mask, logps=logps, old=old, ref=ref, adv=adv, ent=ent, is_ratio=is_ratio)


def trl_loss(case, x):
    args = types.SimpleNamespace(use_bias_correction_kl=False, delta=case.get("delta"), sapo_temperature_pos=1.0,
                                 sapo_temperature_neg=1.05)
    logps = x["logps"].clone().requires_grad_(True)
    ent = x["ent"].clone().requires_grad_(True)
    entropy_coef = case.get("entropy_coef", 0.0)
    self = types.SimpleNamespace(
        aux_loss_enabled=False, top_entropy_quantile=1.0, off_policy_mask_threshold=None,
        importance_sampling_level=case.get("level", "token"), beta=case.get("beta", 0.0), args=args,
        loss_type=case["loss_type"], epsilon_low=case.get("eps_low", 0.2), epsilon_high=case.get("eps_high", 0.2),
        use_vllm=case.get("is", False), vllm_importance_sampling_correction=case.get("is", False),
        model=types.SimpleNamespace(training=True), current_gradient_accumulation_steps=1, max_completion_length=T,
        accelerator=OneProcess(), _entropy_bonus_enabled=entropy_coef != 0.0, entropy_coef=entropy_coef,
        use_adaptive_entropy=False, _metrics={"train": defaultdict(list)},
        _get_per_token_logps_and_entropies=lambda *a, **k: (logps, ent, None))
    self.args.steps_per_generation = 1
    inputs = {
        "prompt_ids": torch.zeros(B, 1, dtype=torch.long), "prompt_mask": torch.ones(B, 1, dtype=torch.long),
        "completion_ids": torch.zeros(B, T, dtype=torch.long), "completion_mask": x["mask"],
        "advantages": x["adv"], "old_per_token_logps": x["old"], "num_items_in_batch": x["mask"].sum(),
    }
    if self.beta != 0.0:
        inputs["ref_per_token_logps"] = x["ref"]
    if case.get("is"):
        inputs["importance_sampling_ratio"] = x["is_ratio"]
    loss = GRPOTrainer._compute_loss(self, None, inputs)
    loss.backward()
    return loss.item(), logps.grad, ent.grad


CASES = [
    dict(name="grpo", loss_type="grpo"),
    dict(name="bnpo", loss_type="bnpo"),
    dict(name="dr_grpo", loss_type="dr_grpo"),
    dict(name="dapo_clip_higher", loss_type="dapo", eps_low=0.2, eps_high=0.28),
    dict(name="dapo_dual_clip", loss_type="dapo", delta=3.0),
    dict(name="cispo", loss_type="cispo", eps_high=1.5),
    dict(name="sapo", loss_type="sapo"),
    dict(name="luspo_gspo", loss_type="luspo", level="sequence"),
    dict(name="gspo", loss_type="grpo", level="sequence", eps_low=0.1, eps_high=0.15),
    dict(name="grpo_kl_k3", loss_type="grpo", beta=0.04),
    dict(name="dapo_tis", loss_type="dapo", **{"is": True}),
    dict(name="dapo_entropy_bonus", loss_type="dapo", entropy_coef=0.01),
]


def main():
    x = make_inputs(7)
    out = {"trl_version": trl.__version__, "torch_version": torch.__version__, "B": B, "T": T,
           "inputs": {k: v.tolist() for k, v in x.items()}, "cases": []}
    for case in CASES:
        loss, g_lp, g_ent = trl_loss(case, x)
        c = dict(case)
        c.update(loss=loss, grad_logps=g_lp.tolist())
        if case.get("entropy_coef"):
            c["grad_entropy"] = g_ent.tolist()
        out["cases"].append(c)
        print(f"{case['name']}: loss {loss:.8f}", file=sys.stderr)
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
