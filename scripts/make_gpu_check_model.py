#!/usr/bin/env python3
"""A small random llama-architecture GGUF for `herd gpu-check` on machines where the default model
cannot be fetched: byte-level vocabulary (256 byte tokens + ChatML specials), F16 / BF16 / F32 / Q8_0
weights mixed so every upload path is exercised.

Run: python scripts/make_gpu_check_model.py OUT.gguf   (needs numpy and gguf)
"""
import sys

import numpy as np
from gguf import GGMLQuantizationType, GGUFWriter
from gguf.quants import quantize


def byte_alphabet():
    printable = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    extra = [b for b in range(256) if b not in printable]
    return [chr(b) if b in printable else chr(256 + extra.index(b)) for b in range(256)]


def main():
    out = sys.argv[1]
    rng = np.random.default_rng(1)
    layers, hidden, ffn, heads, kv_heads = 4, 256, 512, 4, 2
    head_dim = hidden // heads
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tokens = specials + byte_alphabet() + ["th", "the"]
    w = GGUFWriter(out, "llama")
    w.add_name("gpu-check-llama")
    w.add_block_count(layers)
    w.add_context_length(1024)
    w.add_embedding_length(hidden)
    w.add_feed_forward_length(ffn)
    w.add_head_count(heads)
    w.add_head_count_kv(kv_heads)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("smollm")
    w.add_token_list(tokens)
    w.add_token_types([3] * len(specials) + [1] * (len(tokens) - len(specials)))
    w.add_token_merges(["t h", "th e"])
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)

    def mat(rows, cols, scale=0.05):
        return (rng.standard_normal((rows, cols)) * scale).astype(np.float32)

    w.add_tensor("token_embd.weight", mat(len(tokens), hidden, 0.5))
    kinds = ["f16", "bf16", "q8_0", "f32"]
    for i in range(layers):
        kind = kinds[i % len(kinds)]

        def add(name, a):
            if kind == "f16":
                w.add_tensor(name, a.astype(np.float16))
            elif kind == "q8_0":
                q = quantize(a, GGMLQuantizationType.Q8_0)
                w.add_tensor(name, q, raw_shape=q.shape, raw_dtype=GGMLQuantizationType.Q8_0)
            elif kind == "bf16":
                q = quantize(a, GGMLQuantizationType.BF16)
                w.add_tensor(name, q, raw_shape=q.shape, raw_dtype=GGMLQuantizationType.BF16)
            else:
                w.add_tensor(name, a)

        p = f"blk.{i}."
        w.add_tensor(p + "attn_norm.weight", (1 + 0.1 * rng.standard_normal(hidden)).astype(np.float32))
        add(p + "attn_q.weight", mat(heads * head_dim, hidden))
        add(p + "attn_k.weight", mat(kv_heads * head_dim, hidden))
        add(p + "attn_v.weight", mat(kv_heads * head_dim, hidden))
        add(p + "attn_output.weight", mat(hidden, heads * head_dim))
        w.add_tensor(p + "ffn_norm.weight", (1 + 0.1 * rng.standard_normal(hidden)).astype(np.float32))
        add(p + "ffn_gate.weight", mat(ffn, hidden))
        add(p + "ffn_up.weight", mat(ffn, hidden))
        add(p + "ffn_down.weight", mat(hidden, ffn))
    w.add_tensor("output_norm.weight", np.ones(hidden, dtype=np.float32))
    w.add_tensor("output.weight", mat(len(tokens), hidden))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    main()
