#!/usr/bin/env python3
"""Llama 4 GGUF fixtures made by llama.cpp's own converter (Tests/ModelsTests/Fixtures/llama4/llamacpp*).

Usage (with the llama-cpp-python sdist of the version in /work/llamaenv, unpacked; its vendor/llama.cpp has
convert_hf_to_gguf.py and gguf-py):

    pip download llama-cpp-python==0.3.36 --no-deps --no-binary :all: -d /tmp/lcp   # or copy the sdist
    tar xzf /tmp/lcp/llama_cpp_python-0.3.36.tar.gz -C /tmp/lcp
    /work/refenv/bin/python scripts/make_llama4_gguf_fixtures.py /tmp/lcp/llama_cpp_python-0.3.36/vendor/llama.cpp

What it makes:
- `llamacpp/`: a tiny random Llama4ForCausalLM checkpoint (BF16) with transformers' logits and greedy
  continuation (`llamacpp.json`, `llamacpp_logits.f32`), made by make_llama4_fixtures.make. Its config is one
  a GGUF can express: llama.cpp reads no chunk size, temperature floor/scale, NoPE interval or QK-norm flag
  from the file but hard-codes Scout/Maverick's (chunk 8192, floor 8192, scale 0.1, NoPE every 4th layer,
  QK norm unless 128 experts), so the checkpoint uses those values. The other fixtures (chunk 4, floor 3, ...)
  cannot be converted faithfully. Otherwise it keeps what matters: dense and MoE layers (step 2), a NoPE +
  MoE layer, QK norm, llama3 RoPE scaling in all three branches (-> rope_freqs.weight), GQA, an embedding
  table padded past the tokenizer (-> [PAD] tokens in the GGUF vocabulary), the tiny fixture's tokenizer.
- `llamacpp-bf16.gguf` (`--outtype bf16`: the same weights bit for bit) and `llamacpp-q8_0.gguf`
  (`--outtype q8_0`, with `llamacpp-q8_0_logits.f32` and `llamacpp-q8_0.json`: transformers' logits and
  greedy continuation with its dequantized weights), both by
  convert_hf_to_gguf.py run unchanged except for one thing: its tokenizer check
  hashes the tokens of a test text to recognise published vocabularies, which a tiny trained vocabulary
  cannot match, so `get_vocab_base_pre` is made to answer "llama4" (what it answers for Meta's Llama 4
  tokenizer, whose split regex the tiny tokenizer uses).
"""
import json
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_llama4_fixtures as fx  # noqa: E402

NAME = "llamacpp"


def make_checkpoint():
    with open(os.path.join(fx.OUT, "tiny", "tokenizer.json")) as f:
        tok_data = json.load(f)
    fx.make(NAME, tok_data, merges_as_strings=False, seed=11, wrapper=False, dtype=torch.bfloat16, layout="single",
            text_overrides=dict(num_hidden_layers=4, moe_layers=None, no_rope_layers=[], attention_chunk_size=8192,
                                floor_scale=8192, attn_scale=0.1, use_qk_norm=True))


def convert(llama_cpp_dir, outtype):
    sys.path.insert(0, os.path.join(llama_cpp_dir, "gguf-py"))
    sys.path.insert(0, llama_cpp_dir)
    import convert_hf_to_gguf
    from conversion import base
    base.TextModel.get_vocab_base_pre = lambda self, tokenizer: "llama4"
    out = os.path.join(fx.OUT, f"{NAME}-{outtype}.gguf")
    argv = sys.argv
    sys.argv = ["convert_hf_to_gguf.py", os.path.join(fx.OUT, NAME), "--outfile", out, "--outtype", outtype]
    try:
        convert_hf_to_gguf.main()
    finally:
        sys.argv = argv
    print(f"{out}: {os.path.getsize(out)} bytes")


def quantized_reference(outtype):
    """transformers' logits with the GGUF's weights (dequantized by gguf-py), written to
    llamacpp-<outtype>_logits.f32 like the checkpoint's: the reference for a quantized file, since quantizing
    the weights moves logits far more than any engine error would. Reading the tensors back by their
    llama.cpp names also checks the name mapping independently of Herd."""
    import struct
    from gguf import GGUFReader
    from gguf.quants import dequantize
    from transformers import Llama4ForCausalLM, Llama4TextConfig

    directory = os.path.join(fx.OUT, NAME)
    model = Llama4ForCausalLM.from_pretrained(directory, config=Llama4TextConfig.from_pretrained(directory), dtype=torch.float32)
    model.config._attn_implementation = "eager"
    model.eval()
    reader = GGUFReader(os.path.join(fx.OUT, f"{NAME}-{outtype}.gguf"))
    weights = {t.name: torch.from_numpy(dequantize(t.data, t.tensor_type).astype("float32").reshape(list(reversed([int(d) for d in t.shape]))))
               for t in reader.tensors}
    names = {"token_embd.weight": "model.embed_tokens.weight", "output.weight": "lm_head.weight", "output_norm.weight": "model.norm.weight"}
    per_layer = {"attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
                 "attn_output": "self_attn.o_proj", "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm",
                 "ffn_gate": "feed_forward.gate_proj", "ffn_up": "feed_forward.up_proj", "ffn_down": "feed_forward.down_proj",
                 "ffn_gate_inp": "feed_forward.router", "ffn_gate_shexp": "feed_forward.shared_expert.gate_proj",
                 "ffn_up_shexp": "feed_forward.shared_expert.up_proj", "ffn_down_shexp": "feed_forward.shared_expert.down_proj"}
    state = {}
    for name, w in weights.items():
        if name in names:
            state[names[name]] = w
        elif name.startswith("blk."):
            _, layer, kind, _ = name.split(".")
            prefix = f"model.layers.{layer}."
            if kind == "ffn_gate_exps":  # [E, F, hidden] -> HF's fused [E, hidden, 2F] (gate half, up half)
                up = weights[name.replace("gate_exps", "up_exps")]
                state[prefix + "feed_forward.experts.gate_up_proj"] = torch.cat([w.transpose(1, 2), up.transpose(1, 2)], dim=2)
            elif kind == "ffn_down_exps":  # [E, hidden, F] -> [E, F, hidden]
                state[prefix + "feed_forward.experts.down_proj"] = w.transpose(1, 2)
            elif kind != "ffn_up_exps":
                state[prefix + per_layer[kind] + ".weight"] = w
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected and not [m for m in missing if "rotary" not in m], (missing, unexpected)
    with open(os.path.join(fx.OUT, f"{NAME}.json")) as f:
        cases = json.load(f)["cases"]
    blob = bytearray()
    with torch.no_grad():
        for c in cases:
            assert c["offset"] == len(blob) // 4
            out = model(input_ids=torch.tensor([c["ids"]])).logits[0].float()
            blob += struct.pack(f"<{out.numel()}f", *out.flatten().tolist())
        # Greedy continuation of the first prompt, as make_llama4_fixtures does for the checkpoint.
        gen = model.generate(torch.tensor([cases[0]["ids"]]), max_new_tokens=8, do_sample=False, output_scores=True,
                             return_dict_in_generate=True, eos_token_id=None, pad_token_id=model.config.pad_token_id)
        greedy = gen.sequences[0, len(cases[0]["ids"]):].tolist()
        margin = min((torch.topk(x[0].float(), 2).values[0] - torch.topk(x[0].float(), 2).values[1]).item() for x in gen.scores)
    path = os.path.join(fx.OUT, f"{NAME}-{outtype}_logits.f32")
    with open(path, "wb") as f:
        f.write(blob)
    with open(os.path.join(fx.OUT, f"{NAME}-{outtype}.json"), "w") as f:
        json.dump({"greedy": greedy, "greedy_margin": margin}, f, indent=1)
    print(f"{path}: transformers on the {outtype} GGUF's weights; greedy {greedy} (margin {margin:.3g})")


def main():
    if len(sys.argv) != 2 or not os.path.exists(os.path.join(sys.argv[1], "convert_hf_to_gguf.py")):
        sys.exit(__doc__)
    make_checkpoint()
    for outtype in ["bf16", "q8_0"]:
        convert(sys.argv[1], outtype)
    quantized_reference("q8_0")


if __name__ == "__main__":
    main()
