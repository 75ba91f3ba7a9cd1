#!/usr/bin/env python3
"""Compiles Herd's GPU kernel tree with NVRTC exactly as the CUDA backend does (same options, the
vendor header passed as an in-memory include), and prints the log. For kernel work on a GPU machine
without rebuilding herd: python3 scripts/nvrtc-check.py [sm_90] [--registers]

It needs no GPU: on a CPU-only machine, NVRTC from PyPI does (pip install --target /tmp/nvrtc
nvidia-cuda-nvrtc-cu12; LD_LIBRARY_PATH=/tmp/nvrtc/nvidia/cuda_nvrtc/lib). --registers adds ptxas's
per-kernel registers and spill bytes (a table after the log): how register changes were checked without
the GPU machine."""
import ctypes
import glob
import re
import subprocess
import sys
from pathlib import Path

args = [a for a in sys.argv[1:] if not a.startswith("--")]
registers = "--registers" in sys.argv[1:]
arch = args[0] if args else "sm_90"
root = Path(__file__).resolve().parent.parent / "Sources/CHerdGPU/kernels"
candidates = ["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so"] + glob.glob("/usr/local/cuda*/lib64/libnvrtc.so*")
lib = None
for name in candidates:
    try:
        lib = ctypes.CDLL(name)
        break
    except OSError:
        continue
if lib is None:
    sys.exit("NVRTC not found")
prog = ctypes.c_void_p()
# The tree's parts, concatenated in the order the backend compiles them.
parts = subprocess.run([str(root.parent.parent.parent / "scripts/kernel-parts.sh")], check=True, capture_output=True, text=True).stdout.split()
src = b"\n".join(Path(p).read_bytes() for p in parts)
hdr = (root / "vendor.h").read_bytes()
headers = (ctypes.c_char_p * 1)(hdr)
names = (ctypes.c_char_p * 1)(b"vendor.h")
assert lib.nvrtcCreateProgram(ctypes.byref(prog), src, b"herd_kernels.cu", 1, headers, names) == 0
opts = [f"--gpu-architecture={arch}".encode(), b"-std=c++17"] + ([b"--ptxas-options=-v"] if registers else [])
rc = lib.nvrtcCompileProgram(prog, len(opts), (ctypes.c_char_p * len(opts))(*opts))
size = ctypes.c_size_t()
lib.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
log = ctypes.create_string_buffer(size.value)
lib.nvrtcGetProgramLog(prog, log)
text = log.value.decode()
if registers:
    # ptxas -v: "Compiling entry function 'name'", then "Used N registers" and "N bytes spill stores, M bytes spill loads".
    rows, name = [], None
    for line in text.splitlines():
        if m := re.search(r"Compiling entry function '(\w+)'", line):
            name = m.group(1)
        elif name and (m := re.search(r"(\d+) bytes spill stores, (\d+) bytes spill loads", line)):
            spill = f"{m.group(1)}/{m.group(2)}"
        elif name and (m := re.search(r"Used (\d+) registers", line)):
            rows.append((name, m.group(1), spill))
            name = None
    print(f"{'kernel':40} {'registers':>9} {'spill st/ld B':>14}")
    for kernel, used, spill in sorted(rows):
        print(f"{kernel:40} {used:>9} {spill:>14}")
else:
    print(text or "(empty log)")
print("NVRTC compile", "ok" if rc == 0 else f"FAILED ({rc})", "for", arch)
sys.exit(0 if rc == 0 else 1)
