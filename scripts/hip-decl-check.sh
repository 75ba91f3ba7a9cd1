#!/usr/bin/env bash
# Shows that Sources/CHerdGPU/hip_check.c catches a wrong HIP or hiprtc declaration: it compiles the
# check against the real headers (libamdhip64-dev) as it is (must pass), then once per deliberate mistake
# in a copy of CHerdGPU.h (each must fail). Exit status 1 if the check passes a mistake or rejects the
# real declarations.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f /usr/include/hip/hip_runtime_api.h ] || [ ! -f /usr/include/hip/hiprtc.h ]; then
  echo "hip-decl-check: the HIP headers are missing (install libamdhip64-dev)" >&2
  exit 1
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/include"
cp Sources/CHerdGPU/hip_check.c "$work/"
compile() { clang -std=gnu17 -fsyntax-only -I"$work/include" "$work/hip_check.c" 2> "$work/log"; }

cp Sources/CHerdGPU/include/CHerdGPU.h "$work/include/"
if ! compile; then cat "$work/log" >&2; echo "hip-decl-check: the real declarations fail the check" >&2; exit 1; fi
echo "ok   the declarations in CHerdGPU.h match the installed HIP headers"

# Each mistake: a description and a sed expression that introduces it into CHerdGPU.h.
mistakes=(
  "hipMalloc size as unsigned int|s/(\*hipMalloc)(void \*\*pointer, size_t bytes)/(*hipMalloc)(void **pointer, unsigned int bytes)/"
  "hipModuleLaunchKernel without its extra argument|s/herd_hipStream_t stream, void \*\*params, void \*\*extra)/herd_hipStream_t stream, void **params)/"
  "hipDeviceGetAttribute with the value and device swapped|s/(\*hipDeviceGetAttribute)(int \*value, herd_hipDeviceAttribute_t attribute, int device)/(*hipDeviceGetAttribute)(int device, herd_hipDeviceAttribute_t attribute, int *value)/"
  "hipModuleGetFunction taking a module pointer|s/(\*hipModuleGetFunction)(herd_hipFunction_t \*function, herd_hipModule_t module,/(*hipModuleGetFunction)(herd_hipFunction_t *function, herd_hipModule_t *module,/"
  "hiprtcGetCodeSize with an int size|s/(\*hiprtcGetCodeSize)(herd_hiprtcProgram program, size_t \*size)/(*hiprtcGetCodeSize)(herd_hiprtcProgram program, int *size)/"
  "hipGetErrorString returning int|s/const char \*(\*hipGetErrorString)(herd_hipError_t error)/int (*hipGetErrorString)(herd_hipError_t error)/"
  "the warp-size attribute id|s/#define HERD_HIP_ATTR_WARP_SIZE 87/#define HERD_HIP_ATTR_WARP_SIZE 88/"
  "the ROCm 5 gcnArchName offset|s/#define HERD_HIP_PROPS_R0000_GCN_ARCH_NAME_OFFSET 396/#define HERD_HIP_PROPS_R0000_GCN_ARCH_NAME_OFFSET 392/"
)
status=0
for m in "${mistakes[@]}"; do
  what="${m%%|*}"; expr="${m#*|}"
  sed "$expr" Sources/CHerdGPU/include/CHerdGPU.h > "$work/include/CHerdGPU.h"
  if cmp -s Sources/CHerdGPU/include/CHerdGPU.h "$work/include/CHerdGPU.h"; then
    echo "FAIL $what: the mistake could not be introduced (CHerdGPU.h changed?)"; status=1; continue
  fi
  if compile; then
    echo "FAIL $what: the check did not catch it"; status=1
  else
    echo "ok   $what: caught ($(grep -m1 -o 'error: static assertion failed[^:]*' "$work/log" || echo error))"
  fi
done
exit $status
