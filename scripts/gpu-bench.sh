#!/usr/bin/env bash
# GPU speed in one call on the GPU machine: the card's ceilings (scripts/gpu-ceilings.py, PyTorch), then
# Herd's decode and prefill on a synthetic Scout-shaped model at full width, cut to the layers that fit,
# in BF16 and FP8 weights, with f32 activations (exact, the default) and BF16 activations (as vLLM), and
# one per-kernel profile; prefill both as one 2048-token prompt and as four in one 8192-token step.
# Usage: scripts/gpu-bench.sh DIR [LAYERS]   (DIR holds a static `herd` binary)
set -uo pipefail
dir="${1:-dist}"
layers="${2:-8}"
here="$(cd "$(dirname "$0")" && pwd)"
export HERD_CACHE="${HERD_CACHE:-/tmp/herd-cache}"
nvidia-smi --query-gpu=name,memory.total,clocks.max.memory,power.limit --format=csv || true
echo "== ceilings =="
python3 "$here/gpu-ceilings.py"
for dtype in bf16 fp8; do
  for acts in f32 bf16; do
    echo "== herd gpu-bench: synthetic:scout,layers=$layers,dtype=$dtype, --tensor-core-activations $acts =="
    "$dir/herd" gpu-bench --device cuda --tensor-core-activations "$acts" --model "synthetic:scout,layers=$layers,dtype=$dtype" \
      --batch 1 64 --context 1024 --prefill-tokens 2048 --steps 5 | grep -v "^model:\|^$"
    # Four 2048-token prompts in one step: max_num_batched_tokens = 8192, as issue 9's prefill target asks.
    "$dir/herd" gpu-bench --device cuda --tensor-core-activations "$acts" --model "synthetic:scout,layers=$layers,dtype=$dtype" \
      --batch 0 --prefill-tokens 2048 --prefill-prompts 4 --steps 3 | grep "^| prefill"
  done
done
echo "== per-kernel profile: synthetic:scout,layers=$layers,dtype=bf16 (f32 activations) =="
"$dir/herd" gpu-bench --device cuda --model "synthetic:scout,layers=$layers,dtype=bf16" --batch 1 64 --context 1024 \
  --prefill-tokens 2048 --steps 3 --profile | sed -n '/kernels/,$p'
