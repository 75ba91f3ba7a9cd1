#!/usr/bin/env python3
"""Tiny random Llama 4 checkpoints and HF transformers' logits for them (Tests/ModelsTests/Fixtures/llama4).

Run with /work/refenv/bin/python (torch CPU, transformers 5.x, tokenizers, safetensors).

Three checkpoints, each in a layout the real models are published in, each with a tokenizer.json built here
(a byte-level BPE trained on a small corpus, the GPT-4o/Llama 4 split regex, ignore_merges, the Llama 4
special tokens after the BPE vocabulary, a TemplateProcessing post-processor that prepends BOS):

- tiny:     the spec's section-12 configuration (8 layers: dense/MoE alternating, NoPE every 4th, QK norm,
            llama3 rope scaling hitting all three branches, chunk 4, floor_scale 3), Llama4ForCausalLM
            (`model.` prefix), F32, one model.safetensors, embedding table larger than the tokenizer.
- scout:    Scout-like: every layer MoE (4 experts, top-1), QK norm, llama3 scaling, chunk 8, floor_scale 4,
            Llama4ForConditionalGeneration (`language_model.` prefix, a small vision tower and projector
            whose tensors Herd must ignore), BF16, three shards with model.safetensors.index.json, merges
            written as ["a", "b"] pairs.
- maverick: Maverick-like: MoE every other layer, dense others, no QK norm, plain RoPE, chunk 16,
            floor_scale 5, 2 experts per token, written as an FP8 export: MoE layers' experts unfused per
            expert and, like q/k projections, F8_E4M3 with per-output-channel BF16 `weight_scale`; the rest
            F32; merges written as "a b" strings.

References: transformers runs in float32 on the weights exactly as Herd reads them (BF16 rounded, FP8
dequantized to fp8 * scale rounded to BF16 as Herd's CPU backend does), eager attention. For every prompt the
logits of every position are saved (so a test can compare prefill and token-by-token decode at every chunk
boundary), with the tokenizer's ids for the prompt text.
"""
import json
import os
import shutil
import struct

import torch
from safetensors.torch import save_file
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import Llama4Config, Llama4ForCausalLM, Llama4ForConditionalGeneration

OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "ModelsTests", "Fixtures", "llama4")

GPT4O_PATTERN = (
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    r"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>",
            "<|header_start|>", "<|header_end|>", "<|eom|>", "<|eot|>", "<|step|>", "<|python_start|>",
            "<|python_end|>", "<|finetune_right_pad|>"]
CHAT_TEMPLATE = (
    "{{- bos_token }}{%- for message in messages %}"
    "{{- '<|header_start|>' + message['role'] + '<|header_end|>\\n\\n' + message['content'] | trim + '<|eot|>' }}"
    "{%- endfor %}{%- if add_generation_prompt %}{{- '<|header_start|>assistant<|header_end|>\\n\\n' }}{%- endif %}"
)
CORPUS = [
    "The quick brown fox jumps over the lazy dog. The dog sleeps; the fox runs away into the forest.",
    "Llama 4 Scout and Maverick are mixture-of-experts models with chunked local attention.",
    "In the beginning the herd walked slowly across the plains, looking for water and grass.",
    "Tokens are routed to experts by a router; a shared expert sees every token as well.",
    "Numbers like 12345 and 678 are split into groups of at most three digits by the pattern.",
    "She said: I'm here, they'll come soon, and we've been waiting since Monday morning!",
    "def forward(x): return x * sigmoid(x)  # silu, also called swish\n",
    "Paris is the capital of France. Berlin is the capital of Germany. Rome is in Italy.",
]
PROMPTS = [
    "The herd of llamas walked across the plains of France, routed by experts to the capital, while the fox slept.",
    "I'm sure they'll find 12345 tokens in the forest; the shared expert sees every token, and the router chooses one.",
]


def build_tokenizer(vocab_size):
    tok = Tokenizer(models.BPE(ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(GPT4O_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(CORPUS * 4, trainer)
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIALS])
    bos = tok.token_to_id("<|begin_of_text|>")
    tok.post_processor = processors.TemplateProcessing(
        single="<|begin_of_text|> $A", pair="<|begin_of_text|> $A $B", special_tokens=[("<|begin_of_text|>", bos)])
    data = json.loads(tok.to_str())
    data["model"]["ignore_merges"] = True  # training keeps the model's flag in recent versions; make sure
    return Tokenizer.from_str(json.dumps(data)), data


def write_tokenizer(directory, data, merges_as_strings):
    data = json.loads(json.dumps(data))
    if merges_as_strings:
        data["model"]["merges"] = [" ".join(m) if isinstance(m, list) else m for m in data["model"]["merges"]]
    else:
        data["model"]["merges"] = [m.split(" ") if isinstance(m, str) else m for m in data["model"]["merges"]]
    with open(os.path.join(directory, "tokenizer.json"), "w") as f:
        json.dump(data, f, ensure_ascii=False)
    with open(os.path.join(directory, "tokenizer_config.json"), "w") as f:
        json.dump({"bos_token": "<|begin_of_text|>", "eos_token": "<|eot|>", "chat_template": CHAT_TEMPLATE,
                   "tokenizer_class": "PreTrainedTokenizerFast"}, f, indent=1)
    # HF must read back what was written (both merge spellings are valid tokenizer.json).
    return Tokenizer.from_file(os.path.join(directory, "tokenizer.json"))


def randomize(model, seed):
    """Weights large enough that attention, routing and every layer matter (HF's init std 0.02 gives nearly
    uniform attention and logits)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=g))
            elif "embed_tokens" in name:
                p.copy_(torch.randn(p.shape, generator=g))
            elif "router" in name:
                p.copy_(0.5 * torch.randn(p.shape, generator=g))
            else:
                fan_in = p.shape[-2] if "experts." in name and p.dim() == 3 else p.shape[-1]
                p.copy_(torch.randn(p.shape, generator=g) * (1.5 / fan_in ** 0.5))


def round_parameters(model, dtype):
    """The reference computes in float32 with the weights as stored in `dtype`. Only parameters are rounded:
    `model.to(bfloat16)` would also round the RoPE inv_freq buffer, which no checkpoint stores."""
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.to(dtype).float())


def text_config(**overrides):
    base = dict(vocab_size=512, hidden_size=64, intermediate_size=32, intermediate_size_mlp=96, num_hidden_layers=8,
                num_attention_heads=4, num_key_value_heads=2, head_dim=16, hidden_act="silu",
                max_position_embeddings=1024, rms_norm_eps=1e-5,
                rope_parameters={"rope_type": "llama3", "rope_theta": 500000.0, "factor": 4.0, "low_freq_factor": 1.0,
                                 "high_freq_factor": 4.0, "original_max_position_embeddings": 256},
                num_local_experts=4, num_experts_per_tok=1, interleave_moe_layer_step=2, moe_layers=[1, 3, 5, 7],
                no_rope_layers=[1, 1, 1, 0, 1, 1, 1, 0], no_rope_layer_interval=4, attention_chunk_size=4,
                use_qk_norm=True, attn_temperature_tuning=True, floor_scale=3, attn_scale=0.1, attention_bias=False,
                tie_word_embeddings=False, pad_token_id=0, bos_token_id=1, eos_token_id=2)
    base.update(overrides)
    return base


def router_margins(model, ids):
    """Smallest gap between the chosen and the next router logit over all tokens and MoE layers: a near tie
    would make the reference's expert choice depend on rounding."""
    margins = []
    hooks = []
    for module in model.modules():
        if type(module).__name__ == "Llama4Router":
            def hook(mod, inp, out, k=module.top_k):
                logits = out[1].float()
                top = torch.topk(logits, k + 1, dim=-1).values
                margins.append((top[:, k - 1] - top[:, k]).min().item())
            hooks.append(module.register_forward_hook(hook))
    with torch.no_grad():
        model(input_ids=torch.tensor([ids]))
    for h in hooks:
        h.remove()
    return min(margins) if margins else float("inf")


def fp8_quantize(w):
    """Per-output-row symmetric FP8 E4M3: (fp8 weight, bf16 scale [out, 1], the dequantized weight as Herd
    computes it: bf16(fp8 * scale))."""
    scale = (w.abs().amax(dim=1, keepdim=True) / 448.0).clamp(min=1e-8).to(torch.bfloat16)
    q = (w / scale.float()).clamp(-448, 448).to(torch.float8_e4m3fn)
    deq = (q.float() * scale.float()).to(torch.bfloat16).float()
    return q, scale, deq


def save_fp8_export(model, directory, prefix):
    """Writes `model` as an FP8 export (unfused per-expert FP8 experts, FP8 q/k projections, F32 rest) and
    puts the dequantized weights back into `model`, so the reference sees what Herd will compute with."""
    tensors = {}
    sd = model.state_dict()
    with torch.no_grad():
        for name, t in sd.items():
            key = prefix + name[len("model."):] if name.startswith("model.") else name
            if name.endswith("experts.gate_up_proj"):
                base = key[: -len("gate_up_proj")]
                f = t.shape[2] // 2
                down = sd[name.replace("gate_up_proj", "down_proj")]
                deq_gu, deq_down = t.clone(), down.clone()
                for e in range(t.shape[0]):
                    for part, w in (("gate_proj", t[e, :, :f].T), ("up_proj", t[e, :, f:].T), ("down_proj", down[e].T)):
                        q, s, deq = fp8_quantize(w.contiguous())
                        tensors[f"{base}{e}.{part}.weight"] = q
                        tensors[f"{base}{e}.{part}.weight_scale"] = s
                        if part == "gate_proj":
                            deq_gu[e, :, :f] = deq.T
                        elif part == "up_proj":
                            deq_gu[e, :, f:] = deq.T
                        else:
                            deq_down[e] = deq.T
                model.get_parameter(name).copy_(deq_gu)
                model.get_parameter(name.replace("gate_up_proj", "down_proj")).copy_(deq_down)
            elif name.endswith("experts.down_proj"):
                continue
            elif name.endswith(("q_proj.weight", "k_proj.weight")):
                q, s, deq = fp8_quantize(t)
                tensors[key] = q
                tensors[key + "_scale"] = s
                model.get_parameter(name).copy_(deq)
            else:
                tensors[key] = t.contiguous()
    save_file(tensors, os.path.join(directory, "model.safetensors"), metadata={"format": "pt"})


def save_sharded(state, directory, shards):
    names = sorted(state)
    per = (len(names) + shards - 1) // shards
    weight_map = {}
    total = 0
    for i in range(shards):
        file = f"model-{i + 1:05d}-of-{shards:05d}.safetensors"
        part = {n: state[n].contiguous() for n in names[i * per:(i + 1) * per]}
        save_file(part, os.path.join(directory, file), metadata={"format": "pt"})
        for n, t in part.items():
            weight_map[n] = file
            total += t.numel() * t.element_size()
    with open(os.path.join(directory, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=1)


def make(name, tok_data, merges_as_strings, text_overrides, seed, wrapper, dtype, layout):
    directory = os.path.join(OUT, name)
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory)
    tokenizer = write_tokenizer(directory, tok_data, merges_as_strings)
    n_tokens = tokenizer.get_vocab_size()
    tc = text_config(**text_overrides)
    if tc["vocab_size"] is None:
        tc["vocab_size"] = n_tokens
    assert tc["vocab_size"] >= n_tokens
    tc["bos_token_id"] = tokenizer.token_to_id("<|begin_of_text|>")
    tc["eos_token_id"] = [tokenizer.token_to_id("<|end_of_text|>"), tokenizer.token_to_id("<|eot|>")]
    tc["pad_token_id"] = tokenizer.token_to_id("<|finetune_right_pad|>")

    while True:
        if wrapper:
            vision = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16,
                          vision_output_dim=32, projector_input_dim=32, projector_output_dim=64, image_size=28,
                          patch_size=14)
            config = Llama4Config(text_config=tc, vision_config=vision)
            full = Llama4ForConditionalGeneration(config)
            randomize(full, seed)
            round_parameters(full, dtype)
            text = full.language_model
        else:
            config = Llama4Config(text_config=tc).text_config
            text = Llama4ForCausalLM(config)
            randomize(text, seed)
            round_parameters(text, dtype)
        text.config._attn_implementation = "eager"
        text.eval()
        ids = [tokenizer.encode(p).ids for p in PROMPTS]
        if layout == "fp8":
            save_fp8_export(text, directory, "model.")
        margin = min(router_margins(text, i) for i in ids)
        if margin > 1e-3:
            break
        print(f"{name}: seed {seed} has a router near-tie ({margin:.2e}); trying the next seed")
        seed += 1

    if wrapper:
        full.config.save_pretrained(directory)
        state = {k: v.to(dtype) for k, v in full.state_dict().items()}
        if layout == "sharded":
            save_sharded(state, directory, 3)
        else:
            save_file(state, os.path.join(directory, "model.safetensors"), metadata={"format": "pt"})
    else:
        text.config.architectures = ["Llama4ForCausalLM"]
        text.config.save_pretrained(directory)
        if layout != "fp8":
            state = {k: v.to(dtype).contiguous() for k, v in text.state_dict().items()}
            save_file(state, os.path.join(directory, "model.safetensors"), metadata={"format": "pt"})

    cases = []
    logits_blob = bytearray()
    with torch.no_grad():
        for prompt, prompt_ids in zip(PROMPTS, ids):
            out = text(input_ids=torch.tensor([prompt_ids])).logits[0].float()
            assert out.shape[1] == tc["vocab_size"]
            cases.append({"text": prompt, "ids": prompt_ids, "offset": len(logits_blob) // 4})
            logits_blob += struct.pack(f"<{out.numel()}f", *out.flatten().tolist())
        # Greedy continuation of the first prompt (the CLI test runs `herd generate` on it), with each step's
        # lead of the best logit over the runner-up: a near tie could legitimately go either way.
        gen = text.generate(torch.tensor([ids[0]]), max_new_tokens=8, do_sample=False, output_scores=True,
                            return_dict_in_generate=True, eos_token_id=None, pad_token_id=tc["pad_token_id"])
        greedy = gen.sequences[0, len(ids[0]):].tolist()
        greedy_margin = min((torch.topk(s[0].float(), 2).values[0] - torch.topk(s[0].float(), 2).values[1]).item()
                            for s in gen.scores)
    with open(os.path.join(OUT, f"{name}_logits.f32"), "wb") as f:
        f.write(logits_blob)
    with open(os.path.join(OUT, f"{name}.json"), "w") as f:
        json.dump({"vocab": tc["vocab_size"], "router_margin": margin, "cases": cases, "greedy": greedy,
                   "greedy_margin": greedy_margin}, f, indent=1)
    print(f"{name}: vocab {tc['vocab_size']} (tokenizer {n_tokens}), prompts {[len(i) for i in ids]} tokens, "
          f"min router margin {margin:.3g}, greedy {greedy} (margin {greedy_margin:.3g}), max |logit| {max(abs(x) for x in struct.unpack(f'<{len(logits_blob)//4}f', logits_blob)):.2f}")


def main():
    os.makedirs(OUT, exist_ok=True)
    _, tok_data = build_tokenizer(400)
    make("tiny", tok_data, merges_as_strings=False, text_overrides={}, seed=1, wrapper=False, dtype=torch.float32,
         layout="single")
    make("scout", tok_data, merges_as_strings=False, seed=2, wrapper=True, dtype=torch.bfloat16, layout="sharded",
         text_overrides=dict(vocab_size=None, num_hidden_layers=4, interleave_moe_layer_step=1, moe_layers=None,
                             no_rope_layers=[], attention_chunk_size=8, floor_scale=4,
                             rope_parameters={"rope_type": "llama3", "rope_theta": 500000.0, "factor": 16.0,
                                              "low_freq_factor": 1.0, "high_freq_factor": 1.0,
                                              "original_max_position_embeddings": 64}))
    make("maverick", tok_data, merges_as_strings=True, seed=3, wrapper=False, dtype=torch.float32, layout="fp8",
         text_overrides=dict(vocab_size=None, num_hidden_layers=4, moe_layers=None, no_rope_layers=[],
                             use_qk_norm=False, attention_chunk_size=16, floor_scale=5, num_experts_per_tok=2,
                             rope_parameters={"rope_type": "default", "rope_theta": 500000.0}))


if __name__ == "__main__":
    main()
