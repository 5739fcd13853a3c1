#!/usr/bin/env python3
"""PyTorch's bf16 `a @ b` (oneDNN) on Triage's `bench gemm` shapes: best of >= 20 calls, GFLOP/s, one JSON line per shape.
The operands are bf16 tensors made once (as Triage's bench holds bf16 operands); the result is bf16, as torch returns it."""
import json, sys, time
import torch
threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
torch.set_num_threads(threads)
for m, k, n in [(1024, 1024, 1024), (4096, 128, 384), (4096, 128, 512), (4096, 512, 128)]:
    a = torch.randn(m, k).to(torch.bfloat16)
    b = torch.randn(k, n).to(torch.bfloat16)
    for _ in range(3):
        a @ b
    times, start = [], time.perf_counter()
    while len(times) < 20 or (time.perf_counter() - start < 0.6 and len(times) < 2000):
        t0 = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t0)
    times.sort()
    flop = 2.0 * m * n * k
    print(json.dumps({"m": m, "k": k, "n": n, "gflops": flop / times[0] / 1e9, "gflops_median": flop / times[len(times) // 2] / 1e9,
                      "calls": len(times), "threads": threads, "torch": torch.__version__}))
