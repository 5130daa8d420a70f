#!/usr/bin/env python3
"""Builds the tokenizer parity corpus and its expected ids with the Hugging Face `tokenizers` library.

Writes tests/fixtures/tokenizers/corpus.jsonl: one JSON object per line with the input ("text", or "hex" for
byte strings that are not valid UTF-8), its category ("kind"), the ids `tokenizers` gives it with the Qwen2
vocabulary ("qwen2") and with GPT-2's ("gpt2"), and ("pieces") a hash of how each pre-tokenizer regex set of
policy/tokenizer/pre_tokenizer.cpp cuts it (Oniguruma, as `tokenizers` runs them). The C++ test tests/policy/test_tokenizer_parity.cpp and
scripts/bench_tokenizer read it.

Reference tokenizers, built from the public files in shared/data/tokenizers:
  qwen2: vocab.json + merges.txt, NFC, the Qwen2 Split regex (Isolated), ByteLevel(use_regex=False), and the
         added tokens of tokenizer_config.json; this is what Qwen2/2.5/3's tokenizer.json describes.
  gpt2:  vocabulary and merges from ggml-vocab-gpt-2.gguf, ByteLevel(use_regex=True), <|endoftext|> special.
Both are first checked against the llama.cpp test vectors (46/46 each) so a wrong reference cannot slip in.

Unicode versions: RE2 (Debian's 2022-06-01) has Unicode 14 tables, while `tokenizers` 0.23's Oniguruma knows
later code points (Unicode 15.1/16: new CJK, hieroglyphs, symbols). Lines containing a code point that is
unassigned in Unicode 14 (Python 3.11's unicodedata, asserted below) are marked "post_unicode_14"; the C++ test
requires identical pieces on all other lines and reports how many marked lines are cut differently.

Invalid UTF-8: `tokenizers` only takes valid strings, so the expected ids of a "hex" line are those of
bytes.decode("utf-8", errors="replace") (each maximal ill-formed subsequence becomes U+FFFD), which is what
grpo.cpp does to invalid input before tokenizing.

Run (from the repository root, with the virtualenv of scripts/requirements.txt):
  python scripts/make_tokenizer_fixtures.py [--shared ../shared/data/tokenizers]
"""
import argparse
import json
import random
import struct
import unicodedata
from pathlib import Path

from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers
from tokenizers.models import BPE

ROOT = Path(__file__).resolve().parent.parent
QWEN2_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
               r"\s*[\r\n]+|\s+(?!\S)|\s+")
# The pre-tokenizer regex sets of policy/tokenizer/pre_tokenizer.cpp, as the models' tokenizer.json files write
# them (Oniguruma syntax, which `tokenizers` runs natively): the C++ runs them on RE2 with the lookahead
# rewritten, and the corpus records a hash of the pieces each set cuts, so the rewrite is checked against
# Oniguruma for models whose vocabularies are not available here (Llama-3, DeepSeek-V3).
PRE_PATTERNS = {
    "gpt-2": [r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"],
    "qwen2": [QWEN2_REGEX],
    "llama3": [r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
               r"\s*[\r\n]+|\s+(?!\S)|\s+"],
    "deepseek-v3": [r"\p{N}{1,3}", "[一-龥぀-ゟ゠-ヿ]+",
                    r"[!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+|"
                    r" ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"],
    "deepseek-llm": ["[\r\n]", r"\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-\x{1F7D}ᾀ-ᾴᾶ-ᾼ\x{1FBE}ῂ-ῄῆ-ῌῐ-\x{1FD3}ῖ-\x{1FDB}ῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤ\x{2126}ℨ\x{212A}-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+", r"\s?[!-/:-~！-／：-～‘-‟　-。]+", r"\s+$", "[一-龥ࠀ-一가-퟿]+", r"\p{N}+"],
    "deepseek-coder": ["[\r\n]", r"\s?\p{L}+", r"\s?\p{P}+", "[一-龥ࠀ-一가-퟿]+", r"\p{N}"],
}
SEED = 20261124
N_PER_KIND = 200


# ---------------------------------------------------------------- reference tokenizers

def read_gguf_tokens(path):
    """tokenizer.ggml.tokens and .merges from a GGUF v2/v3 file (metadata only)."""
    f = open(path, "rb")
    rd = lambda fmt: struct.unpack("<" + fmt, f.read(struct.calcsize("<" + fmt)))[0]
    rstr = lambda: f.read(rd("Q")).decode("utf-8")
    scalar = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}

    def value(t):
        if t == 8:
            return rstr()
        if t == 9:
            et, n = rd("I"), rd("Q")
            return [value(et) for _ in range(n)]
        return rd(scalar[t])

    assert f.read(4) == b"GGUF"
    rd("I"), rd("Q")
    kv = {}
    for _ in range(rd("Q")):
        key = rstr()
        kv[key] = value(rd("I"))
    return kv["tokenizer.ggml.tokens"], kv["tokenizer.ggml.merges"]


def qwen2_reference(shared):
    d = shared / "qwen2_vocab"
    tok = Tokenizer(BPE.from_file(str(d / "vocab.json"), str(d / "merges.txt")))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    cfg = json.loads((d / "tokenizer_config.json").read_text())
    for id_, t in sorted(cfg["added_tokens_decoder"].items(), key=lambda kv: int(kv[0])):
        tok.add_special_tokens([AddedToken(t["content"], special=True, normalized=False)])
        assert tok.token_to_id(t["content"]) == int(id_), t
    return tok


def gpt2_reference(shared):
    tokens, merges = read_gguf_tokens(shared / "ggml-vocab-gpt-2.gguf")
    vocab = {t: i for i, t in enumerate(tokens)}
    tok = Tokenizer(BPE(vocab, [tuple(m.split(" ")) for m in merges]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken("<|endoftext|>", special=True, normalized=False)])
    assert tok.token_to_id("<|endoftext|>") == 50256
    return tok


def piece_hashes(text):
    """name -> FNV-1a 64 (hex) of the pieces the regex set cuts from `text`, joined by NUL bytes."""
    out = {}
    for name, patterns in PRE_PATTERNS.items():
        pre = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(p), behavior="isolated") for p in patterns])
        h = 0xcbf29ce484222325
        for i, (piece, _) in enumerate(pre.pre_tokenize_str(text)):
            for b in (b"\0" if i else b"") + piece.encode("utf-8"):
                h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
        out[name] = f"{h:016x}"
    return out


def check_vectors(tok, shared, name):
    inp = (shared / f"ggml-vocab-{name}.gguf.inp").read_text(encoding="utf-8").split("\n__ggml_vocab_test__\n")[:-1]
    out = (shared / f"ggml-vocab-{name}.gguf.out").read_text(encoding="utf-8").split("\n")
    ok = sum(tok.encode(x, add_special_tokens=False).ids == [int(v) for v in out[i].split()] for i, x in enumerate(inp))
    assert ok == len(inp) == 46, f"reference {name}: {ok}/{len(inp)} test vectors"


# ---------------------------------------------------------------- corpus

def pick(r, s, n):
    return "".join(r.choice(s) for _ in range(n))


def rand_range(r, lo, hi, n):
    return "".join(chr(r.randint(lo, hi)) for _ in range(n))


WORDS = ("the model learns to reason step by step and checks every answer before it writes the final line "
         "Policy gradient with group relative advantages needs no critic network").split()
IDENT = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_"


def gen_code(r):
    name = pick(r, IDENT, r.randint(1, 12))
    ind = r.choice(["    ", "\t", "  ", "        "])
    forms = [
        f"def {name}(x, y={r.randint(0, 999)}):\n{ind}return x ** 2 + y  # {r.choice(WORDS)}\n",
        f"for (int i = 0; i < {r.randint(1, 10**6)}; ++i) {{\n{ind}{name}[i] = i * 0x{r.randint(0, 2**32):X};\n}}",
        f"const {name} = async () => {{ await fetch('https://example.com/{name}?q={r.randint(0, 99)}'); }};",
        f"fn {name}(&mut self) -> Result<Vec<u8>, Error> {{\n{ind}self.buf.extend_from_slice(b\"\\x00\\xff\");\n{ind}Ok(vec![])\n}}",
        f"if {name} != None and len({name}) >= {r.randint(0, 50)}:\n{ind}{ind}print(f\"{{{name}!r}}\\n\")\r\n",
        f"#include <{name}.h>\n\nint main(){{return {r.randint(0, 255)};}}\n\n\n",
        f"SELECT {name}, COUNT(*) FROM t WHERE x<>'{r.choice(WORDS)}' GROUP BY 1;",
        f"<div class=\"{name}\">{r.choice(WORDS)}&nbsp;&lt;/div&gt;</div>",
        f"{{\"{name}\": [{r.random():.6f}, null, true, \"{r.choice(WORDS)}\"]}}",
        f"    {name} = lambda *args, **kw: {{k: v for k, v in kw.items()}}\n" * r.randint(1, 3),
    ]
    return r.choice(forms)


def gen_latex(r):
    a, b = r.randint(1, 999), r.randint(1, 999)
    forms = [
        f"\\frac{{{a}}}{{{b}}}", f"$\\sqrt{{{a}}} + \\sqrt[3]{{{b}}}$", f"\\boxed{{{a}\\pi}}",
        f"\\sum_{{i=1}}^{{n}} i^{{{a % 9}}} = \\frac{{n(n+1)}}{{2}}",
        f"\\begin{{pmatrix}} {a} & {b} \\\\ -{b} & {a} \\end{{pmatrix}}",
        f"\\int_0^\\infty e^{{-x^2}}\\,dx = \\frac{{\\sqrt{{\\pi}}}}{{2}}", f"x \\in [{a}, {b})\\cup(\\alpha,\\beta]",
        f"\\left( \\dfrac{{{a}}}{{{b}}} \\right)^{{2}} \\cdot 10^{{-{a % 20}}}", f"{a}^\\circ C \\approx {b}\\%",
        f"\\text{{The answer is }} \\mathbf{{{a}}}.\\quad\\blacksquare", f"$$\\lim_{{x\\to 0}} \\frac{{\\sin x}}{{x}} = 1$$",
    ]
    return " ".join(r.choice(forms) for _ in range(r.randint(1, 3)))


def gen_cjk(r):
    parts = [rand_range(r, 0x4E00, 0x9FA5, r.randint(1, 12)), rand_range(r, 0x3040, 0x309F, r.randint(1, 8)),
             rand_range(r, 0x30A0, 0x30FF, r.randint(1, 8)), rand_range(r, 0xAC00, 0xD7A3, r.randint(1, 8)),
             pick(r, "。，、！？：；「」『』（）〜・", r.randint(1, 3)), rand_range(r, 0xFF01, 0xFF5E, r.randint(1, 5)),
             r.choice(WORDS), str(r.randint(0, 10**6)), " ", "\n"]
    r.shuffle(parts)
    return "".join(parts[:r.randint(2, len(parts))])


EMOJI = ["😀", "😁", "🚀", "🦙", "✅", "❤️", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇯🇵", "🇺🇸", "1️⃣", "😶‍🌫️", "🧑🏿‍💻", "🫠", "☺",
         "⭐", "🔥", "\u2764\ufe0f", "🤷\u200d♀️", "🏴󠁧󠁢󠁳󠁣󠁴󠁿"]


def gen_emoji(r):
    out = []
    for _ in range(r.randint(1, 8)):
        out.append(r.choice(EMOJI + [" ", " ", r.choice(WORDS), chr(r.randint(0x1F300, 0x1FAFF))]))
    return "".join(out)


def gen_combining(r):
    base = r.choice(["e", "a", "o", "u", "n", "c", "A", "E", "ı", "α", "и", "ע", "ب", "क", "ก"])
    marks = rand_range(r, 0x0300, 0x036F, r.randint(1, 4))
    forms = [
        base + marks + r.choice(WORDS), unicodedata.normalize("NFD", r.choice(["Việt Nam", "Führer", "café", "naïve",
                                                                                 "Ångström", "ﬁ", "한국어", "Ελληνικά"])),
        r.choice(WORDS) + " " + base + marks, "क्षत्रिय " + rand_range(r, 0x0900, 0x097F, r.randint(2, 8)),
        "שָׁלוֹם " + rand_range(r, 0x0591, 0x05C7, 3), "مَرْحَبًا " + rand_range(r, 0x064B, 0x065F, 2),
        "ภาษาไทย" + rand_range(r, 0x0E01, 0x0E5B, r.randint(2, 10)), unicodedata.normalize("NFKD", "Ǆ ℌ ① ﬃ ¼"),
        "e\u0301\u0327 o\u0308\u0304 A\u030a", "\u0301leading mark", "Zalgo: " + "".join(
            c + rand_range(r, 0x0300, 0x036F, 3) for c in "zalgo"),
    ]
    return r.choice(forms)


SPACES = [" ", "  ", "\t", "\n", "\r\n", "\r", "\u00a0", "\u3000", "\u2009", "\u2028", "\u0085", "\u200b", "\x0b", "\x0c"]


def gen_whitespace(r):
    out = []
    for _ in range(r.randint(1, 6)):
        k = r.random()
        if k < 0.3:
            out.append(" " * r.randint(1, 40))
        elif k < 0.5:
            out.append("".join(r.choice(SPACES) for _ in range(r.randint(1, 8))))
        elif k < 0.6:
            out.append("\n" * r.randint(1, 6) + " " * r.randint(0, 8))
        else:
            out.append(r.choice(WORDS + ["x", "(", "=", "!!", "3"]))
    return "".join(out)


def gen_digits(r):
    forms = [
        str(r.randint(0, 10 ** r.randint(1, 50))), f"{r.randint(0, 10**9):,}", f"{r.random() * 10**r.randint(0, 8):.{r.randint(0, 9)}f}",
        f"{r.randint(1, 12)}/{r.randint(1, 28)}/{r.randint(1900, 2100)}", "٠١٢٣٤٥٦٧٨٩" [: r.randint(1, 10)],
        "０１２３４５６７８９"[: r.randint(1, 10)], "x²+y³=z⁴ ½ ¾ ⅓ Ⅻ", f"v{r.randint(0, 9)}.{r.randint(0, 99)}.{r.randint(0, 999)}-rc{r.randint(1, 5)}",
        f"+1 ({r.randint(100, 999)}) {r.randint(100, 999)}-{r.randint(1000, 9999)}", f"{r.randint(-10**6, 10**6)}e{r.randint(-30, 30)}",
        "3" * r.randint(1, 30), "1234567890" * r.randint(1, 5),
    ]
    return " ".join(r.choice(forms) for _ in range(r.randint(1, 4)))


SPECIAL = ["<|im_start|>", "<|im_end|>", "<|endoftext|>"]


def gen_special(r):
    forms = [
        f"<|im_start|>user\n{r.choice(WORDS)}?<|im_end|>\n<|im_start|>assistant\n",
        f"{r.choice(WORDS)}{r.choice(SPECIAL)}{r.choice(WORDS)}", f"<{r.choice(SPECIAL)}>", "<|im_sta" + r.choice(WORDS),
        f"{r.choice(SPECIAL)}{r.choice(SPECIAL)} {r.choice(SPECIAL)}", f"  {r.choice(SPECIAL)}  \n", "<|endoftext|" + "|>",
        f"<think>{r.choice(WORDS)}</think><answer>{r.randint(0, 99)}</answer>", "<|IM_START|> <|im_start |>",
    ]
    return r.choice(forms)


def gen_contractions(r):
    forms = ["DON'T", "I'm", "they'RE", "we'Ve", "it's", "'s", "y'all", "rock 'n' roll", "don’t (U+2019)", "O'Neil's",
             "'LL", "'d've", "isn't it'", "'''", "I'M SURE 'TIS"]
    return " ".join(r.choice(forms) for _ in range(r.randint(1, 6)))


def gen_mixed(r):
    out = []
    for _ in range(r.randint(1, 10)):
        k = r.random()
        if k < 0.2:
            out.append(chr(r.choice([r.randint(0, 0x1F), r.randint(0x7F, 0x9F)])))
        elif k < 0.5:
            cp = r.randint(0x20, 0x2FFFF)
            if 0xD800 <= cp <= 0xDFFF:
                cp = 0x41
            out.append(chr(cp))
        elif k < 0.7:
            out.append(r.choice(["https://", "user@example.org", "**bold**", "# Title\n", "- [ ] ", "`x`", "->", "=>",
                                 "...", "—", "–", "«»", "€100", "©", "™"]))
        else:
            out.append(r.choice(WORDS) + r.choice([" ", "", ", ", ".\n"]))
    return "".join(out)


def gen_long(r):
    forms = ["a" * r.randint(200, 3000), " " * r.randint(100, 1000) + "x", "9" * r.randint(100, 2000),
             "".join(r.choice(WORDS) for _ in range(r.randint(100, 400))), "=" * r.randint(50, 500) + "\n",
             rand_range(r, 0x4E00, 0x9FA5, r.randint(100, 1000)), "🚀" * r.randint(20, 200)]
    return r.choice(forms)


def gen_invalid(r):
    bad = [b"\x80", b"\xbf", b"\xc0\x80", b"\xc1\xbf", b"\xe0\x80\x80", b"\xed\xa0\x80", b"\xf0\x80\x80\x80",
           b"\xf4\x90\x80\x80", b"\xf5\x80", b"\xff", b"\xfe", b"\xe2\x82", b"\xf0\x9f\x98", b"\xc3", b"\xe6\x97\xa5\xe6",
           bytes([r.randint(0x80, 0xFF)]), bytes(r.randint(0, 255) for _ in range(r.randint(1, 6)))]
    out = b""
    for _ in range(r.randint(1, 5)):
        out += r.choice(bad) if r.random() < 0.5 else r.choice(WORDS + ["日本", " ", "é"]).encode()
    return out


KINDS = [("code", gen_code), ("latex", gen_latex), ("cjk", gen_cjk), ("emoji", gen_emoji), ("combining", gen_combining),
         ("whitespace", gen_whitespace), ("digits", gen_digits), ("special", gen_special),
         ("contractions", gen_contractions), ("mixed", gen_mixed)]


def build_corpus():
    r = random.Random(SEED)
    items = []
    for kind, gen in KINDS:
        for _ in range(N_PER_KIND):
            items.append((kind, gen(r)))
    for _ in range(40):
        items.append(("long", gen_long(r)))
    for _ in range(80):
        raw = gen_invalid(r)
        try:
            items.append(("mixed", raw.decode("utf-8")))
        except UnicodeDecodeError:
            items.append(("invalid_utf8", raw))
    return items


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data" / "tokenizers")
    ap.add_argument("--out", type=Path, default=ROOT / "tests" / "fixtures" / "tokenizers" / "corpus.jsonl")
    args = ap.parse_args()
    assert unicodedata.unidata_version == "14.0.0", "run with Python 3.11 (Unicode 14), as RE2's tables"
    qwen2, gpt2 = qwen2_reference(args.shared), gpt2_reference(args.shared)
    check_vectors(qwen2, args.shared, "qwen2")
    check_vectors(qwen2, args.shared, "deepseek-r1-qwen")
    check_vectors(gpt2, args.shared, "gpt-2")
    items = build_corpus()
    n_bytes = 0
    with open(args.out, "w", encoding="utf-8") as f:
        for kind, x in items:
            if isinstance(x, bytes):
                rec, text = {"hex": x.hex()}, x.decode("utf-8", errors="replace")
                n_bytes += len(x)
            else:
                rec, text = {"text": x}, x
                n_bytes += len(x.encode("utf-8"))
            rec["kind"] = kind
            rec["qwen2"] = qwen2.encode(text, add_special_tokens=False).ids
            rec["gpt2"] = gpt2.encode(text, add_special_tokens=False).ids
            rec["pieces"] = piece_hashes(text)
            if any(unicodedata.category(c) == "Cn" for c in text):
                rec["post_unicode_14"] = True  # see the note on Unicode versions above
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    print(f"wrote {args.out}: {len(items)} strings, {n_bytes / 1e6:.3f} MB")


if __name__ == "__main__":
    main()
