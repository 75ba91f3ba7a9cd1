#!/usr/bin/env bash
# `herd bench sweep` on one GPU: the MI300X study's five ISL:OSL pairs at concurrency 64 through the real
# engine (scheduler, paged KV cache, sampling), on a synthetic Scout-shaped model at full width cut to
# LAYERS layers (default 6: the 48 layers of a TP8 node are 6 layers' weights per GPU, so one GPU with 6
# layers streams the bytes per step each GPU of the published 8-GPU runs streams; BENCHMARKS.md compares).
# Usage: scripts/gpu-sweep.sh DIR [LAYERS] [PROMPTS]
set -uo pipefail
dir="${1:-dist}"
layers="${2:-6}"
prompts="${3:-64}"
export HERD_CACHE="${HERD_CACHE:-/tmp/herd-cache}"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
for dtype in ${DTYPES:-bf16}; do
  echo "== herd bench sweep: synthetic:scout,layers=$layers,dtype=$dtype, $prompts prompts per pair, concurrency 64 =="
  "$dir/herd" bench sweep --device cuda --model "synthetic:scout,layers=$layers,dtype=$dtype" --num-prompts "$prompts" \
    --max-concurrency 64 --max-num-seqs 64 --max-num-batched-tokens 8192 --max-model-len 11200 ${SWEEP_ARGS:-}
done
