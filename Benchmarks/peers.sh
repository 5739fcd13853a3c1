#!/usr/bin/env bash
# Training and decoding of the `tiny` reference model: Triage (`triage bench train`, `triage bench decode`)
# and PyTorch eager (shared/peers/torch_tiny_transformer.py, as it is), in one run, 2 threads, same machine.
# Needs torch (pip install /opt/wheels/torch-*+cpu*.whl, or pip install torch).
# Usage: bash Benchmarks/peers.sh [THREADS]
set -euo pipefail
cd "$(dirname "$0")/.."
threads="${1:-2}"
PEER="${TORCH_PEER:-../shared/peers/torch_tiny_transformer.py}"
swift build -c release --product triage >/dev/null
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
# The machine is shared and noisy (±20% between minutes): ROUNDS peer runs, each bracketed by Triage runs
# (T P T P … T), so both sides sample the same stretch of time; each side reports the median of its runs.
rounds="${ROUNDS:-3}"
triage_run() {
  .build/release/triage bench train --json --threads "$threads" >> "$out/train.jsonl"
  .build/release/triage bench decode --json --threads "$threads" >> "$out/decode.jsonl"
}
triage_run
for r in $(seq 1 "$rounds"); do
  python3 "$PEER" --child eager --threads "$threads" 2>> "$out/torch.log" | tail -1 >> "$out/torch.jsonl"
  triage_run
done
python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
tr = [json.loads(l) for l in open(f"{out}/train.jsonl")]
dec = [json.loads(l) for l in open(f"{out}/decode.jsonl")]
pts = [json.loads(l) for l in open(f"{out}/torch.jsonl")]
med = lambda xs: sorted(xs)[len(xs) // 2] if len(xs) % 2 else sum(sorted(xs)[len(xs) // 2 - 1:len(xs) // 2 + 1]) / 2
t_tok = med([r["tokens_per_s"] for r in tr])
d1 = med([r["ms_per_request"] for r in dec if r["batch"] == 1])
d32 = med([r["requests_per_s"] for r in dec if r["batch"] == 32])
p_tok = med([p["train"]["tokens_per_s_median"] for p in pts])
p1 = med([p["decode_b1"]["ms_per_request"]["median"] for p in pts])
p32 = med([p["decode_b32"]["requests_per_s_median"] for p in pts])
pt = pts[0]
print(f"{len(tr)} Triage runs around {len(pts)} PyTorch runs; medians of the runs (each run itself a median of steps)")
print(f"{'measure':34} {'triage':>10} {'pytorch eager':>14} {'ratio':>7}  target")
print(f"{'train tokens/s (median step)':34} {t_tok:10.0f} {p_tok:14.0f} {t_tok / p_tok:7.2f}  >= 1.0")
print(f"{'decode batch 1, ms/request':34} {d1:10.2f} {p1:14.2f} {d1 / p1:7.2f}  <= 0.5")
print(f"{'decode batch 32, requests/s':34} {d32:10.0f} {p32:14.0f} {d32 / p32:7.2f}  >= 1.5")
print(json.dumps({"triage": {"train": tr, "decode": dec}, "pytorch_eager": {"train_tokens_per_s": p_tok,
      "decode_b1_ms": p1, "decode_b32_rps": p32, "torch": pt.get("torch"),
      "runs": [{"train_tokens_per_s": p["train"]["tokens_per_s_median"], "decode_b1_ms": p["decode_b1"]["ms_per_request"]["median"],
                "decode_b32_rps": p["decode_b32"]["requests_per_s_median"]} for p in pts]}}))
PY
