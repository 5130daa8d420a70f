#!/usr/bin/env python3
"""TRL's side of scripts/bench_step: GRPOTrainer (PyPI trl, scripts/requirements.txt) on the countdown-tiny task from the
same SFT checkpoint grpo trains from, with grpo's settings: B prompts x G samples per step, T = 1, max_new_tokens 48,
lr constant, clip 0.2/0.2, token-mean ("dapo") loss, no KL, one optimisation pass, plain transformers generation,
2 CPU threads. The reward is the countdown verifier's (1 for a correct equation, 0.1 for a well-formed wrong one).
Prints one JSON line: seconds of every step and their median over steps 2..N."""
import argparse
import ast
import json
import re
import statistics
import tempfile
import time
from collections import Counter
from fractions import Fraction

import torch


def eval_expr(text):
    """The value of an arithmetic expression (+ - * / and parentheses on integers) and the numbers it uses, or None."""
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        return None
    used = []

    def ev(n):
        if isinstance(n, ast.Expression):
            return ev(n.body)
        if isinstance(n, ast.Constant) and isinstance(n.value, int):
            used.append(n.value)
            return Fraction(n.value)
        if isinstance(n, ast.BinOp) and isinstance(n.op, (ast.Add, ast.Sub, ast.Mult, ast.Div)):
            a, b = ev(n.left), ev(n.right)
            if isinstance(n.op, ast.Add):
                return a + b
            if isinstance(n.op, ast.Sub):
                return a - b
            if isinstance(n.op, ast.Mult):
                return a * b
            if b == 0:
                raise ZeroDivisionError
            return a / b
        raise ValueError("not arithmetic")

    try:
        return ev(tree), used
    except (ValueError, ZeroDivisionError, RecursionError):
        return None


TOKENIZER = None  # set in main: decodes completion_ids with the <answer> tags, which TRL's text drops (special tokens)


def countdown_reward(completions, numbers, target, completion_ids=None, **_):
    out = []
    texts = [TOKENIZER.decode(ids, skip_special_tokens=False) for ids in completion_ids] if completion_ids else completions
    for text, nums, tgt in zip(texts, numbers, target):
        m = re.findall(r"<answer>(.*?)</answer>", text, re.S)
        r = eval_expr(m[-1].strip()) if m else None
        if r is None:
            out.append(0.0)
        elif Counter(r[1]) == Counter(nums) and r[0] == tgt:
            out.append(1.0)
        else:
            out.append(0.1)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True, help="train.jsonl of `grpo data export` (compact, numbers, target)")
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--prompts", type=int, default=64)
    ap.add_argument("--group", type=int, default=8)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    import datasets
    import transformers
    import trl

    rows = [json.loads(l) for l in open(a.data)]
    ds = datasets.Dataset.from_list([{"prompt": r["compact"], "numbers": r["numbers"], "target": r["target"]}
                                     for r in rows])
    global TOKENIZER
    tok = TOKENIZER = transformers.AutoTokenizer.from_pretrained(a.model)
    model = transformers.AutoModelForCausalLM.from_pretrained(a.model, dtype=torch.float32)
    times = []

    class Clock(transformers.TrainerCallback):
        def on_step_begin(self, args, state, control, **kw):
            self.t0 = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):
            times.append(time.perf_counter() - self.t0)

    with tempfile.TemporaryDirectory() as out:
        cfg = trl.GRPOConfig(
            output_dir=out, per_device_train_batch_size=a.prompts * a.group, num_generations=a.group,
            gradient_accumulation_steps=1, steps_per_generation=1, num_iterations=1, max_completion_length=48,
            temperature=1.0, top_p=1.0, learning_rate=a.lr, lr_scheduler_type="constant", warmup_steps=0,
            epsilon=0.2, epsilon_high=0.2, beta=0.0, loss_type="dapo", max_steps=a.steps, logging_steps=1,
            report_to="none", use_cpu=True, bf16=False, save_strategy="no", seed=1, disable_dropout=True,
            remove_unused_columns=False, dataloader_num_workers=0, log_completions=False)
        trainer = trl.GRPOTrainer(model=model, processing_class=tok, reward_funcs=[countdown_reward], args=cfg,
                                  train_dataset=ds, callbacks=[Clock()])
        trainer.train()
        rewards = [h.get("reward") for h in trainer.state.log_history if "reward" in h]
    print(json.dumps({"bench": "trl_grpo_step", "trl": trl.__version__, "transformers": transformers.__version__,
                      "torch": torch.__version__, "threads": torch.get_num_threads(), "step_seconds": times,
                      "median_seconds": statistics.median(times[1:]), "rewards": rewards}))


if __name__ == "__main__":
    main()
