#!/usr/bin/env python3
"""The card's own ceilings, measured with PyTorch in the same run as Herd's benchmark: device-to-device copy
bandwidth (read + write bytes / time) and dense BF16 and FP8 GEMM rates. Prints one table; exits 0 without
torch or a GPU (says so)."""
import sys

try:
    import torch
except ImportError:
    print("ceilings: PyTorch is not installed; skipped")
    sys.exit(0)
if not torch.cuda.is_available():
    print("ceilings: no CUDA device; skipped")
    sys.exit(0)


def timed(fn, reps=20):
    fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times = []
    for _ in range(reps):
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    times.sort()
    return times[len(times) // 2]


print(f"device: {torch.cuda.get_device_name()}  torch {torch.__version__}")
print("| ceiling                     | time ms | rate          |")
print("|-----------------------------|---------|---------------|")
n = 1 << 30  # 1 GiB each way
src = torch.empty(n, dtype=torch.uint8, device="cuda")
dst = torch.empty_like(src)
t = timed(lambda: dst.copy_(src))
print(f"| D2D copy 1 GiB (read+write) | {t*1e3:7.2f} | {2*n/t/1e9:8.0f} GB/s |")
# Read-only streaming (what a decode step does with weights): a large sum.
big = torch.ones(n // 2, dtype=torch.bfloat16, device="cuda")
t = timed(lambda: big.sum())
print(f"| read 1 GiB (sum)            | {t*1e3:7.2f} | {n/t/1e9:8.0f} GB/s |")
for m, k, nn in [(8192, 8192, 8192)]:
    a = torch.randn(m, k, dtype=torch.bfloat16, device="cuda")
    b = torch.randn(k, nn, dtype=torch.bfloat16, device="cuda")
    t = timed(lambda: a @ b)
    print(f"| BF16 GEMM {m}x{k}x{nn}    | {t*1e3:7.2f} | {2*m*k*nn/t/1e12:8.1f} TF/s |")
    try:
        a8 = a.to(torch.float8_e4m3fn)
        b8 = b.t().contiguous().to(torch.float8_e4m3fn).t()
        one = torch.tensor(1.0, device="cuda")
        t = timed(lambda: torch._scaled_mm(a8, b8, scale_a=one, scale_b=one, out_dtype=torch.bfloat16))
        print(f"| FP8 GEMM {m}x{k}x{nn}     | {t*1e3:7.2f} | {2*m*k*nn/t/1e12:8.1f} TF/s |")
    except Exception as e:  # older torch / no FP8 support
        print(f"| FP8 GEMM                    |       - | unavailable: {e} |")
