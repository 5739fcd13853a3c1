#!/usr/bin/env bash
# sgemm through TensorCore (`triage bench gemm`) against numpy's `a @ b` on the same shapes, in one run,
# same machine and thread count. The environment is left as it is (no OPENBLAS_CORETYPE): Triage must
# pick the fast kernel by itself. Needs python3 with numpy (and threadpoolctl to name numpy's core).
# Usage: bash Benchmarks/gemm.sh [THREADS]
set -euo pipefail
cd "$(dirname "$0")/.."
threads="${1:-2}"
swift build -c release --product triage >/dev/null
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
for round in 1 2; do  # interleaved, so neither side gets only the quiet minutes
  .build/release/triage bench gemm --precision fp32 --json --threads "$threads" > "$out/triage-$round.jsonl"
  OPENBLAS_NUM_THREADS="$threads" python3 Benchmarks/scripts/numpy_gemm.py > "$out/numpy-$round.jsonl"
done
python3 - "$out" <<'PY'
import json, sys, glob
out = sys.argv[1]
def best(prefix):
    r = {}
    for f in glob.glob(f"{out}/{prefix}-*.jsonl"):
        for line in open(f):
            o = json.loads(line); key = (o["m"], o["k"], o["n"])
            if key not in r or o["gflops"] > r[key]["gflops"]: r[key] = o
    return r
t, n = best("triage"), best("numpy")
print(f"{'shape':28} {'triage GFLOP/s':>15} {'numpy GFLOP/s':>14} {'ratio':>6}  triage core")
worst = None
for key in t:
    m, k, nn = key
    ratio = t[key]["gflops"] / n[key]["gflops"]
    worst = ratio if worst is None or ratio < worst else worst
    print(f"[{m}x{k}]·[{k}x{nn}]".ljust(28), f"{t[key]['gflops']:15.1f} {n[key]['gflops']:14.1f} {ratio:6.2f}  {t[key]['core']}")
print(json.dumps({"triage": list(t.values()), "numpy": list(n.values())}))
PY
