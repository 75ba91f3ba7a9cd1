#!/usr/bin/env bash
# Compiles Herd's GPU kernel tree (Sources/CHerdGPU/kernels, the CUDA/HIP common dialect) as HIP with
# Debian's hipcc for gfx90a, and reports each kernel's register, LDS and scratch use. This checks the
# dialect (a CUDA-only construct breaks it), not MI300X (gfx942) code generation, which Debian's ROCm
# 5.2 cannot target. Exit status 1 if the tree does not compile.
set -euo pipefail
cd "$(dirname "$0")/.."
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
# The tree's parts, concatenated in the order the backend compiles them (scripts/kernel-parts.sh).
parts=$(scripts/kernel-parts.sh)
cat $parts > "$out/tree.cu"
if ! hipcc --genco --offload-arch=gfx90a -O3 -x hip -I Sources/CHerdGPU/kernels "$out/tree.cu" -o "$out/herd_kernels.hsaco" \
     -Rpass-analysis=kernel-resource-usage > "$out/log" 2>&1; then
  grep -v "rocm_agent_enumerator\|^Traceback\|^  File\|^    \|main()" "$out/log" >&2 || true
  echo "hip-check: the kernel tree does not compile as HIP (see above)" >&2
  exit 1
fi
echo "hip-check: kernel tree compiles as HIP for gfx90a ($(stat -c %s "$out/herd_kernels.hsaco") bytes of code objects)"
printf '%-24s %6s %6s %10s %12s\n' kernel VGPRs SGPRs "LDS bytes" "scratch B/lane"
awk '
  /Function Name:/ { name=$NF }
  /VGPRs:/ && !/AGPR/ { v=$NF }
  /SGPRs:/ { s=$NF }
  /ScratchSize/ { sc=$NF }
  /LDS Size/ { printf "%-24s %6s %6s %10s %12s\n", name, v, s, $NF, sc }
' <(sed 's/ \[-Rpass-analysis=kernel-resource-usage\]//' "$out/log")
