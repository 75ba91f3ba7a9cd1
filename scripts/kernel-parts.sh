#!/usr/bin/env bash
# Prints the kernel tree's parts in compilation order (the KERNEL_PARTS line of Sources/CHerdGPU/gpu.c,
# which embeds them), one path per line; fails when a .cu file of the tree is not listed there.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="$root/Sources/CHerdGPU/kernels"
parts=$(sed -n 's|^// KERNEL_PARTS: ||p' "$root/Sources/CHerdGPU/gpu.c")
for f in "$dir"/*.cu; do
  name=$(basename "$f")
  grep -qw "$name" <<<"$parts" || { echo "kernel-parts: $name is not in gpu.c's KERNEL_PARTS (it would not be compiled)" >&2; exit 1; }
  grep -q "#embed \"kernels/$name\"" "$root/Sources/CHerdGPU/gpu.c" || { echo "kernel-parts: gpu.c does not #embed $name" >&2; exit 1; }
done
for p in $parts; do echo "$dir/$p"; done
