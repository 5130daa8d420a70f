#!/usr/bin/env python3
"""Builds (gold, prediction) pairs from the answers in shared/data/math and labels them with math-verify.

Writes tests/fixtures/rewards/math_pairs.jsonl, one pair per line:
  {"source": "math500", "row": 17, "kind": "rewrite:frac_to_slash", "completion": "... \\boxed{...}", "math_verify": true}
The gold answer is NOT stored (the data stays in shared/data): the C++ test (tests/rewards/test_math_agreement.cpp)
and scripts/bench_rewards read it from shared/data/math/<source>.jsonl at `row` (0-based line number), with
gold_answer() below defining the field. Each gold gets equivalent rewrites (LaTeX spellings, fractions,
decimals, thousands separators, units, "x =", reordered sums and sets, ...) and near misses (changed numbers,
swapped fractions, closed/open ends, dropped roots, reordered tuples, ...). `math_verify` is
math_verify.verify(parse("$gold$"), parse(completion)).

Run (from the repository root, with the virtualenv of scripts/requirements.txt):
  python scripts/make_math_pairs.py [--shared ../shared/data/math]
"""
import argparse
import json
import random
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ["math500", "gsm8k_test", "amc23", "aime24"]
SEED = 6


def gold_answer(source, row):
    """The gold answer string of a data row, as grpo's test reads it."""
    if source == "gsm8k_test":
        return row["answer"].split("####")[-1].strip().replace(",", "")
    a = row["answer"]
    if isinstance(a, float) and a.is_integer():
        return str(int(a))
    return str(a)


def load(shared):
    out = []
    for src in SOURCES:
        for i, line in enumerate(open(shared / f"{src}.jsonl", encoding="utf-8")):
            out.append((src, i, gold_answer(src, json.loads(line))))
    return out


INT = re.compile(r"^-?\d+$")
DEC = re.compile(r"^-?\d*\.\d+$")


def rewrites(g, r):
    """Equivalent spellings of gold g: (name, text)."""
    out = []
    if INT.match(g):
        n = int(g)
        out += [("int_decimal", f"{n}.0"), ("int_frac", f"\\frac{{{2 * n}}}{{2}}"), ("int_dollar", f"\\${n}"),
                ("int_x_equals", f"x = {n}"), ("int_text_unit", f"{n} \\text{{ units}}"), ("int_plus_zero", f"{n}+0")]
        if abs(n) >= 1000:
            out += [("thousands", f"{n:,}"), ("thousands_braced", f"{n:,}".replace(",", "{,}"))]
        if n > 0:
            out += [("int_sum", f"{n - 1} + 1")]
    elif DEC.match(g):
        x = g if not g.startswith(".") else "0" + g
        out += [("decimal_zero", x), ("decimal_trailing_zero", x + "0")]
        d = len(x.split(".")[1])
        num = int(x.replace(".", "").replace("-", ""))
        sign = "-" if x.startswith("-") else ""
        out += [("decimal_frac", f"{sign}\\frac{{{num}}}{{{10 ** d}}}")]
    else:
        t = g
        if "\\frac" in t:
            out.append(("dfrac", t.replace("\\frac", "\\dfrac")))
            m = re.fullmatch(r"(-?)\\frac\{(\d+)\}\{(\d+)\}", t)
            if m:
                out += [("frac_to_slash", f"{m[1]}{m[2]}/{m[3]}"), ("frac_scaled", f"{m[1]}\\frac{{{3 * int(m[2])}}}{{{3 * int(m[3])}}}")]
                out += [("frac_paren_slash", f"{m[1]}({m[2]})/({m[3]})")]
        if "(" in t and "\\left" not in t:
            out.append(("left_right", t.replace("(", "\\left(").replace(")", "\\right)")))
        if " " in t:
            out.append(("no_spaces", re.sub(r"(?<![A-Za-z]) | (?![A-Za-z])", "", t)))
        out.append(("spaced", " ".join(re.findall(r"\\[A-Za-z]+|.", t)).replace("\\ ", "\\")))
        m = re.fullmatch(r"\\sqrt\{(\d+)\}", t)
        if m:
            out += [("sqrt_bare", f"\\sqrt {m[1]}"), ("sqrt_power", f"{m[1]}^{{1/2}}"), ("sqrt_power_frac", f"{m[1]}^{{\\frac{{1}}{{2}}}}")]
        m = re.fullmatch(r"(\d+)\\pi", t.replace(" ", ""))
        if m:
            out += [("pi_times", f"{m[1]} \\cdot \\pi"), ("pi_first", f"\\pi \\cdot {m[1]}")]
        m = re.fullmatch(r"\\\{(.*)\\\}", t)
        if m and "," in m[1]:
            items = [s.strip() for s in m[1].split(",")]
            r.shuffle(items)
            out.append(("set_permuted", "\\{" + ", ".join(items) + "\\}"))
        if re.fullmatch(r"[^(),\[\]{}]+,[^(),\[\]{}]+(,[^(),\[\]{}]+)*", t):
            items = [s.strip() for s in t.split(",")]
            r.shuffle(items)
            out.append(("list_permuted", ", ".join(items)))
        m = re.fullmatch(r"([^+\-]+)\+([^+\-]+)", t)
        if m and "(" not in t and "{" not in t.replace("\\frac", "").replace("\\sqrt", ""):
            out.append(("sum_swapped", f"{m[2].strip()} + {m[1].strip()}"))
        out.append(("dollars", f"${t}$"))
    out.append(("sentence", g))  # "The answer is $g$." (completion_for), a period after the math
    return out


def near_misses(g, r):
    """Wrong answers close to gold g: (name, text)."""
    out = []
    if INT.match(g):
        n = int(g)
        out += [("int_plus_one", str(n + 1)), ("int_minus_one", str(n - 1)), ("int_times_ten", str(10 * n + (n == 0)))]
        if n != 0:
            out += [("int_negated", str(-n))]
        out += [("int_frac_off", f"\\frac{{{2 * n + 1}}}{{2}}")]
    else:
        nums = list(re.finditer(r"\d+", g))
        if nums:
            m = nums[-1]
            out.append(("last_number_plus_one", g[:m.start()] + str(int(m[0]) + 1) + g[m.end():]))
            m0 = nums[0]
            if len(nums) > 1:
                out.append(("first_number_plus_two", g[:m0.start()] + str(int(m0[0]) + 2) + g[m0.end():]))
        m = re.fullmatch(r"(-?)\\frac\{(\d+)\}\{(\d+)\}", g)
        if m and m[2] != m[3]:
            out.append(("frac_swapped", f"{m[1]}\\frac{{{m[3]}}}{{{m[2]}}}"))
        if "\\sqrt" in g:
            out.append(("sqrt_dropped", re.sub(r"\\sqrt\{([^{}]*)\}", r"\1", g, count=1)))
        if "\\pi" in g and g.replace(" ", "") != "\\pi":
            out.append(("pi_dropped", g.replace("\\pi", "")))
        if g.startswith("[") and g.endswith("]"):
            out.append(("interval_open", "(" + g[1:-1] + ")"))
        elif g.startswith("(") and g.endswith(")") and g.count(",") == 1:
            out.append(("interval_closed", "[" + g[1:-1] + "]"))
        if g.startswith("(") and g.count(",") >= 1:
            inner = g[1:-1].split(",")
            if len(inner) >= 2 and inner[0].strip() != inner[1].strip():
                inner[0], inner[1] = inner[1], inner[0]
                out.append(("tuple_swapped", "(" + ",".join(inner) + ")"))
        if g.startswith("-"):
            out.append(("sign_dropped", g[1:]))
        elif not g.startswith("\\text"):
            out.append(("negated", f"-({g})" if any(c in g for c in "+-") else f"-{g}"))
        if DEC.match(g):
            out.append(("decimal_shifted", str(float(g) * 10)))
    return out


def completion_for(pred, r, name=""):
    if name == "sentence":
        return r.choice(["We find that the answer is $%s$.", "Thus the answer is $%s$.\n"]) % pred
    lead = r.choice(["Let me work through this carefully.\n", "First, simplify.\n", "We compute step by step.\n", ""])
    tail = r.choice(["Therefore, the final answer is $\\boxed{%s}$.", "So the answer is $\\boxed{%s}$",
                     "\\[\\boxed{%s}\\]", "Final answer: $\\boxed{%s}$."])
    return lead + tail % pred


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data" / "math")
    ap.add_argument("--out", type=Path, default=ROOT / "tests" / "fixtures" / "rewards" / "math_pairs.jsonl")
    ap.add_argument("--per-gold", type=int, default=2, help="rewrites and near misses each, per gold")
    args = ap.parse_args()
    from math_verify import parse, verify
    r = random.Random(SEED)
    rows = []
    for src, i, g in load(args.shared):
        for kind, options in (("rewrite", rewrites(g, r)), ("near_miss", near_misses(g, r))):
            r.shuffle(options)
            for name, pred in options[: args.per_gold]:
                rows.append((src, i, g, f"{kind}:{name}", completion_for(pred, r, name)))
    n_true = 0
    with open(args.out, "w", encoding="utf-8") as f:
        for src, i, g, kind, completion in rows:
            try:
                v = bool(verify(parse("$" + g + "$"), parse(completion)))
            except Exception:  # math-verify raising counts as "not verified"
                v = False
            n_true += v
            f.write(json.dumps({"source": src, "row": i, "kind": kind, "completion": completion, "math_verify": v},
                               ensure_ascii=False) + "\n")
    print(f"wrote {args.out}: {len(rows)} pairs, math-verify says equal for {n_true}")


if __name__ == "__main__":
    main()
