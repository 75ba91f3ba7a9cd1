#!/usr/bin/env bash
# A/B of two GPU code paths in one call on the GPU machine: the same gpu-bench scenarios run alternately
# under two settings (environment variables, or two binaries), two rounds, so both see the same card
# state. A setting is "VAR=value ..." (the switches: HERD_GRAPHS, HERD_GEMV_SPLIT, HERD_SKINNY,
# HERD_SKINNY_DENSE=LO-HI, HERD_GQA_SPLIT, HERD_TC_ATTENTION, HERD_ATTENTION_SPLIT, HERD_VENDOR_BLAS,
# HERD_DEVICE_SAMPLING) and may name a binary
# with BIN=path (default DIR/herd).
# Usage: scripts/gpu-ab.sh DIR "SETTING A" "SETTING B" [gpu-bench arguments...]
#   e.g. scripts/gpu-ab.sh dist "HERD_SKINNY=0" "" --batch 1 64 --prefill-tokens 0
set -uo pipefail
dir="$1"; a="$2"; b="$3"; shift 3
args=("$@")
[ ${#args[@]} -eq 0 ] && args=(--batch 1 64 --context 1024 --prefill-tokens 2048)
export HERD_CACHE="${HERD_CACHE:-/tmp/herd-cache}"
nvidia-smi --query-gpu=name --format=csv,noheader || true
for round in 1 2; do
  for setting in "$a" "$b"; do
    for dtype in ${DTYPES:-bf16 fp8}; do
      echo "== [${setting:-default}] $dtype, round $round"
      (BIN="$dir/herd"; if [ -n "$setting" ]; then export $setting; fi; "$BIN" gpu-bench --device cuda --model "synthetic:scout,layers=${LAYERS:-8},dtype=$dtype" \
        --steps 5 "${args[@]}" | grep "^| [dp]")
    done
  done
done
