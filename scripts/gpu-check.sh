#!/usr/bin/env bash
# Runs Herd's GPU checks on a machine with an NVIDIA GPU (or an AMD one: --device auto picks it), from the
# repository root, with a folder holding a static `herd` binary and the check model. Build both here first:
#   swift build -c release --static-swift-stdlib --product herd --scratch-path .build-static
#   mkdir -p dist && cp .build-static/release/herd dist/ && python scripts/make_gpu_check_model.py dist/gpu-check-llama.gguf
# then run `scripts/gpu-check.sh dist` on the GPU machine. Prints each check and a summary; exit 1 on any failure.
set -uo pipefail
dir="${1:-dist}"
export HERD_CACHE="${HERD_CACHE:-/tmp/herd-cache}"
F=Tests/ModelsTests/Fixtures/llama4
# Mid-size synthetic Llama 4 models (full vocabulary, narrow layers): Scout-like BF16 top-1, Maverick-like FP8 top-2.
scout="synthetic:scout,layers=4,hidden=1024,heads=8,kv_heads=2,head_dim=128,experts=16,intermediate=1024,intermediate_mlp=2048"
maverick="synthetic:maverick,layers=4,hidden=1024,heads=8,kv_heads=2,head_dim=128,experts=16,top_k=2,intermediate=1024,intermediate_mlp=2048,dtype=fp8"
status=0
if inc=$(dirname "$(find / -name cublasLt.h -path "*include*" 2>/dev/null | head -1)" 2>/dev/null) && [ -f "$inc/cublasLt.h" ]; then
  if cc -fsyntax-only -I"$inc" -I Sources/CHerdGPU/include scripts/cublaslt-check.c; then echo "ok   cuBLASLt declarations match $inc/cublasLt.h"
  else echo "FAIL cuBLASLt declarations (scripts/cublaslt-check.c)"; status=1; fi
fi
nvidia-smi --query-gpu=name,memory.used,memory.total,power.draw,power.limit --format=csv || true
echo "== kernels against their CPU twins; whole models (llama GGUF, Llama 4 golden fixtures, llama.cpp GGUF, synthetic) against the CPU engine =="
"$dir/herd" gpu-check --model "$dir/gpu-check-llama.gguf" --model $F/tiny --model $F/scout --model $F/maverick \
  --model $F/llamacpp-bf16.gguf --model "$scout" --model "$maverick" --tokens 12 || status=1
echo "== a second run loads the cached kernels =="
ls -la "$HERD_CACHE/kernels" || true
"$dir/herd" gpu-check || status=1
echo "== greedy generation on the GPU vs the CPU =="
gpu=$("$dir/herd" generate --device cuda --model "$dir/gpu-check-llama.gguf" --prompt "the cat" --max-tokens 24 --temperature 0 --json)
cpu=$("$dir/herd" generate --device cpu --exact-activations --model "$dir/gpu-check-llama.gguf" --prompt "the cat" --max-tokens 24 --temperature 0 --json)
echo "gpu: $gpu"
echo "cpu: $cpu"
ids() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])["token_ids"])' "$1"; }
if [ "$(ids "$gpu")" = "$(ids "$cpu")" ]; then echo "ok   generate: same greedy tokens"; else echo "FAIL generate: tokens differ"; status=1; fi
echo "== herd bench in process on the GPU: hundreds of requests on a full-width Scout-shaped model (4 layers) =="
"$dir/herd" bench --device cuda --model "synthetic:scout,layers=4" --num-prompts 300 --random-input-len 128 \
  --random-output-len 32 --max-concurrency 64 --max-num-seqs 64 --max-num-batched-tokens 2048 \
  --percentile-metrics ttft,tpot,itl,e2el || status=1
exit $status
