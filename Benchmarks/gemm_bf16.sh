#!/usr/bin/env bash
# bf16 products: `triage bench gemm --precision bf16` (oneDNN, called from Triage's workers) against
# PyTorch's bf16 `a @ b` (oneDNN inside PyTorch) on the same shapes, interleaved, 2 threads, one run.
# Needs torch (pip install /opt/wheels/torch-*+cpu*.whl, or pip install torch).
# Usage: bash Benchmarks/gemm_bf16.sh [THREADS]
set -euo pipefail
cd "$(dirname "$0")/.."
threads="${1:-2}"
swift build -c release --product triage >/dev/null
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
for round in 1 2 3; do
  .build/release/triage bench gemm --precision bf16 --json --threads "$threads" >> "$out/triage.jsonl"
  python3 Benchmarks/scripts/torch_bf16_gemm.py "$threads" >> "$out/torch.jsonl"
done
python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
def best(f):
    r = {}
    for l in open(f"{out}/{f}"):
        o = json.loads(l); key = (o["m"], o["k"], o["n"])
        if key not in r or o["gflops"] > r[key]["gflops"]: r[key] = o
    return r
t, p = best("triage.jsonl"), best("torch.jsonl")
print(f"{'shape':28} {'triage bf16':>12} {'torch bf16':>11} {'ratio':>6}  kernels")
for key in t:
    m, k, n = key
    print(f"[{m}x{k}]·[{k}x{n}]".ljust(28), f"{t[key]['gflops']:12.1f} {p[key]['gflops']:11.1f} {t[key]['gflops'] / p[key]['gflops']:6.2f}  {t[key]['core']}")
print(json.dumps({"triage": list(t.values()), "torch": list(p.values())}))
PY
