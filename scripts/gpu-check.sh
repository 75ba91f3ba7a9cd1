#!/usr/bin/env bash
# Runs Herd's GPU checks on a machine with an NVIDIA GPU, from a folder holding a static `herd` binary
# and the check model (scripts/make_gpu_check_model.py). Build both here first:
#   swift build -c release --static-swift-stdlib --product herd --scratch-path .build-static
#   mkdir -p dist && cp .build-static/release/herd dist/ && python scripts/make_gpu_check_model.py dist/gpu-check-llama.gguf
# then run `scripts/gpu-check.sh dist` on the GPU machine. Prints each check and a summary.
set -uo pipefail
dir="${1:-dist}"
export HERD_CACHE="${HERD_CACHE:-/tmp/herd-cache}"
status=0
nvidia-smi --query-gpu=name,memory.used,memory.total,power.draw,power.limit --format=csv || true
echo "== kernels and whole model against the CPU engine =="
"$dir/herd" gpu-check --model "$dir/gpu-check-llama.gguf" || status=1
echo "== a second run loads the cached kernels =="
ls -la "$HERD_CACHE/kernels" || true
"$dir/herd" gpu-check || status=1
echo "== greedy generation on CUDA vs CPU =="
cuda=$("$dir/herd" generate --device cuda --model "$dir/gpu-check-llama.gguf" --prompt "the cat" --max-tokens 24 --temperature 0 --json)
cpu=$("$dir/herd" generate --device cpu --exact-activations --model "$dir/gpu-check-llama.gguf" --prompt "the cat" --max-tokens 24 --temperature 0 --json)
echo "cuda: $cuda"
echo "cpu:  $cpu"
ids() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])["token_ids"])' "$1"; }
if [ "$(ids "$cuda")" = "$(ids "$cpu")" ]; then echo "ok   generate: same greedy tokens"; else echo "FAIL generate: tokens differ"; status=1; fi
echo "== herd bench in process on CUDA: hundreds of requests =="
"$dir/herd" bench --device cuda --model "$dir/gpu-check-llama.gguf" --num-prompts 300 --random-input-len 96 \
  --random-output-len 32 --max-concurrency 64 --max-num-seqs 64 --max-num-batched-tokens 512 --kv-cache-memory 64MiB \
  --percentile-metrics ttft,tpot,itl,e2el || status=1
exit $status
