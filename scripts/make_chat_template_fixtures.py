#!/usr/bin/env python3
"""Reference renders of the Hugging Face chat templates that policy/tokenizer/chat_template.cpp re-implements, for
tests/policy/test_chat_template.cpp. It renders with transformers' own Jinja code path, not a Jinja engine in C++.

Set-up (CPU only; versions pinned in scripts/requirements.txt, jinja2 comes with transformers):
    python3 -m venv ~/grpo-venv && ~/grpo-venv/bin/pip install -r scripts/requirements.txt
Regenerate the fixture (writes tests/fixtures/tokenizers/chat_templates.json):
    ~/grpo-venv/bin/python scripts/make_chat_template_fixtures.py [--templates DIR]

The .jinja files are the chat_template fields of the models' tokenizer_config.json (origins in TEMPLATES below). They
are looked up in --templates, else in shared/data/tokenizers/templates next to or inside the checkout; their sha256
is written into the fixture, so a render from another version of a template shows up in the diff.

Each conversation is rendered as apply_chat_template would: messages normalised the same way (keys whose value is
None dropped), the model's special tokens and the extra keyword arguments (enable_thinking, date_string) passed as
template variables, through transformers.utils.chat_template_utils.render_jinja_template, which compiles the template
in the sandboxed environment transformers uses (trim_blocks, lstrip_blocks, raise_exception, tojson, strftime_now).
A render that raises is not a case: it is listed under "raises" with the error, and the C++ test checks that
render_chat throws for it too.
"""
import argparse
import hashlib
import itertools
import json
import os
import sys

from transformers.utils.chat_template_utils import render_jinja_template

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
OUT = os.path.join(ROOT, "tests", "fixtures", "tokenizers", "chat_templates.json")
TEMPLATE_DIRS = [os.path.join(ROOT, "shared", "data", "tokenizers", "templates"),
                 os.path.join(ROOT, "..", "shared", "data", "tokenizers", "templates")]

# name in grpo.cpp -> (file, Hub model it comes from, special tokens as the model's tokenizer exposes them)
TEMPLATES = {
    # A .json file is a tokenizer_config.json: its "chat_template" field is the template.
    "qwen2": ("../qwen2_vocab/tokenizer_config.json", "Qwen/Qwen2-1.5B-Instruct",
              dict(eos_token="<|im_end|>", pad_token="<|endoftext|>")),
    "qwen2.5": ("Qwen-Qwen2.5-7B-Instruct.jinja", "Qwen/Qwen2.5-7B-Instruct",
                dict(eos_token="<|im_end|>", pad_token="<|endoftext|>")),
    "qwen3": ("Qwen-Qwen3-0.6B.jinja", "Qwen/Qwen3-0.6B",
              dict(eos_token="<|im_end|>", pad_token="<|endoftext|>")),
    "deepseek-r1": ("deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja", "deepseek-ai/DeepSeek-R1-Distill-Qwen-32B",
                    dict(bos_token="<｜begin▁of▁sentence｜>", eos_token="<｜end▁of▁sentence｜>",
                         pad_token="<｜end▁of▁sentence｜>")),
    "llama3": ("meta-llama-Llama-3.1-8B-Instruct.jinja", "meta-llama/Llama-3.1-8B-Instruct",
               dict(bos_token="<|begin_of_text|>", eos_token="<|eot_id|>")),
    # Committed in tests/fixtures/tokenizers/templates (from the SmolLM2 GGUF's tokenizer.chat_template; Apache-2.0).
    "smollm2": ("HuggingFaceTB-SmolLM2-135M-Instruct.jinja", "HuggingFaceTB/SmolLM2-135M-Instruct",
                dict(bos_token="<|im_start|>", eos_token="<|im_end|>", pad_token="<|im_end|>")),
}
REPO_TEMPLATE_DIR = os.path.join(ROOT, "tests", "fixtures", "tokenizers", "templates")
DEFAULT_DATE = "26 Jul 2024"


def sys_(c):
    return {"role": "system", "content": c}


def user(c):
    return {"role": "user", "content": c}


def asst(c, reasoning=None):
    m = {"role": "assistant", "content": c}
    if reasoning is not None:
        m["reasoning_content"] = reasoning
    return m


# name -> messages. Covers what the formatters branch on; tools and tool calls are out of scope in grpo.cpp.
CONVERSATIONS = {
    "single_user": [user("Using the numbers [3, 5, 7], create an equation that equals 22.")],
    "system_user": [sys_("You are a terse math tutor."), user("Solve x + 1 = 3.")],
    "multi_turn": [sys_("Be brief."), user("Solve x + 1 = 3."), asst("x = 2."), user("And x + 2 = 5?")],
    "multi_turn_no_system": [user("Hi!"), asst("Hello. How can I help?"), user("Add 2 and 3."), asst("5")],
    "think_then_user": [user("What is 2+3?"), asst("<think>\nTwo plus three.\n</think>\n\n5"), user("Times 4?")],
    "think_last": [user("What is 2+3?"), asst("<think>Two plus three.</think>The answer is 5.")],
    "think_no_open_tag": [user("Q"), asst("reasoning without an opening tag\n</think>\n\n\nanswer\n")],
    "think_many_tags": [user("Q"), asst("<think>a<think>\n\nb\n\n</think>c</think>\n\nd"), user("Q2"),
                        asst("x</think>y</think>")],
    "reasoning_field_last": [user("What is 2+3?"), asst("\n\n5", reasoning="\n2 plus 3 is 5.\n\n")],
    "reasoning_field_then_user": [user("What is 2+3?"), asst("5", reasoning="2 plus 3 is 5."), user("And 3+4?")],
    "reasoning_field_overrides_tags": [user("Q"), asst("<think>inline</think>shown", reasoning="from field")],
    "reasoning_field_empty": [user("Q"), asst("<think>inline</think>shown", reasoning=""), asst("second")],
    "assistants_after_query": [sys_("S"), user("Q"), asst("a1", reasoning="r1"), asst("a2", reasoning=""),
                               asst("<think>r3</think>a3"), asst("a4")],
    "tool_response_text_in_user": [user("Q"), asst("<think>r1</think>a1"),
                                   user("<tool_response>\n42\n</tool_response>"), asst("<think>r2</think>a2")],
    "empty_contents": [sys_(""), user(""), asst("")],
    "empty_user_only": [user("")],
    "unicode_newlines": [sys_("  Système: réponds en français.\n"),
                         user("\u3000 Ünïcödé ✓ 日本語 🙂\n\nline two\r\n\t"),
                         asst("\xa0 Réponse : 42 \u2028"), user("\n\n\nencore\u00a0\u200b")],
    "special_token_text": [user("Literal <|im_end|> and <|eot_id|> and <｜User｜> text"), asst("ok <|im_start|>")],
    "system_in_middle": [user("first"), sys_("mid-conversation instruction"), user("second")],
    "two_systems": [sys_("A"), user("u1"), sys_("B"), user("u2")],
    "only_system": [sys_("You are a bot.")],
    "assistant_first": [asst("<think>r</think>I speak first."), user("ok")],
    "assistant_only": [asst("<think>r</think>alone")],
    "unknown_role": [user("Q"), {"role": "observer", "content": "watching"}, asst("A")],
    "empty_conversation": [],
}


def find_template_dir(arg):
    for d in ([arg] if arg else TEMPLATE_DIRS):
        if os.path.isfile(os.path.join(d, TEMPLATES["qwen3"][0])):
            return os.path.normpath(d)
    sys.exit(f"chat templates not found in {arg or TEMPLATE_DIRS}; pass --templates DIR")


def render(source, specials, messages, add_generation_prompt, extra):
    # Normalised as apply_chat_template does before rendering: None-valued keys are dropped.
    chat = [{k: v for k, v in m.items() if v is not None} for m in messages]
    rendered, _ = render_jinja_template(conversations=[chat], chat_template=source,
                                        add_generation_prompt=add_generation_prompt, **specials, **extra)
    return rendered[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--templates", help="directory holding the .jinja files")
    args = ap.parse_args()
    tdir = find_template_dir(args.templates)

    header, cases, raises = {}, [], []
    for name, (fname, model, specials) in TEMPLATES.items():
        in_repo = os.path.join(REPO_TEMPLATE_DIR, fname)
        with open(in_repo if os.path.isfile(in_repo) else os.path.join(tdir, fname), "rb") as f:
            raw = f.read()
        header[name] = dict(file=fname, model=model, sha256=hashlib.sha256(raw).hexdigest(), **specials)
        source = raw.decode("utf-8")
        if fname.endswith(".json"):
            source = json.loads(source)["chat_template"]
        thinking = [True, False] if name == "qwen3" else [True]
        dates = [DEFAULT_DATE] if name != "llama3" else [DEFAULT_DATE, "1 Jan 2025"]
        for (conv, messages), agp, think, date in itertools.product(CONVERSATIONS.items(), [True, False],
                                                                    thinking, dates):
            if date != DEFAULT_DATE and conv not in ("single_user", "system_user"):
                continue
            extra = dict(enable_thinking=think)
            if name == "llama3":
                extra["date_string"] = date
            case = dict(template=name, conversation=conv, messages=messages, add_generation_prompt=agp,
                        enable_thinking=think, date_string=date)
            try:
                case["expected"] = render(source, specials, messages, agp, extra)
            except Exception as e:  # a template that raises: the C++ formatter must throw as well
                raises.append(dict(case, error=f"{type(e).__name__}: {e}"))
                continue
            cases.append(case)

    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(dict(generated_by="scripts/make_chat_template_fixtures.py", templates=header, cases=cases,
                       raises=raises), f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"{len(cases)} cases, {len(raises)} renders that raise -> {os.path.relpath(OUT, ROOT)}")
    for r in raises:
        print(f"  raises: {r['template']} {r['conversation']} add_generation_prompt={r['add_generation_prompt']}: "
              f"{r['error']}")


if __name__ == "__main__":
    main()
