#!/usr/bin/env bash
# Training and decoding of the `tiny` reference model: Triage (`triage bench train`, `triage bench decode`,
# fp32 and bf16 products) and PyTorch eager and its bf16 autocast (shared/peers/torch_tiny_transformer.py,
# as it is), in one run, 2 threads, same machine.
# Needs torch (pip install /opt/wheels/torch-*+cpu*.whl, or pip install torch).
# Usage: bash Benchmarks/peers.sh [THREADS]
set -euo pipefail
cd "$(dirname "$0")/.."
threads="${1:-2}"
PEER="${TORCH_PEER:-../shared/peers/torch_tiny_transformer.py}"
swift build -c release --product triage >/dev/null
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
# The machine is shared and noisy (±20% between minutes): ROUNDS peer rounds (eager, then bf16 autocast),
# each bracketed by Triage runs (T P T P … T), so both sides sample the same stretch of time; each side
# reports the median of its runs.
rounds="${ROUNDS:-3}"
triage_run() {
  for p in fp32 bf16; do
    .build/release/triage bench train --precision $p --json --threads "$threads" >> "$out/train-$p.jsonl"
    .build/release/triage bench decode --precision $p --json --threads "$threads" >> "$out/decode-$p.jsonl"
  done
}
triage_run
for r in $(seq 1 "$rounds"); do
  python3 "$PEER" --child eager --threads "$threads" 2>> "$out/torch.log" | tail -1 >> "$out/torch-eager.jsonl"
  triage_run
  python3 "$PEER" --child bf16 --threads "$threads" 2>> "$out/torch.log" | tail -1 >> "$out/torch-bf16.jsonl"
  triage_run
done
python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
load = lambda f: [json.loads(l) for l in open(f"{out}/{f}")]
med = lambda xs: sorted(xs)[len(xs) // 2] if len(xs) % 2 else sum(sorted(xs)[len(xs) // 2 - 1:len(xs) // 2 + 1]) / 2
t = {}
for p in ("fp32", "bf16"):
    tr, dec = load(f"train-{p}.jsonl"), load(f"decode-{p}.jsonl")
    t[p] = {"train": med([r["tokens_per_s"] for r in tr]),
            "b1": med([r["ms_per_request"] for r in dec if r["batch"] == 1]),
            "b32": med([r["requests_per_s"] for r in dec if r["batch"] == 32]), "runs": len(tr)}
pe, pb = load("torch-eager.jsonl"), load("torch-bf16.jsonl")
def peer(ps):
    return {"train": med([p["train"]["tokens_per_s_median"] for p in ps]),
            "b1": med([p["decode_b1"]["ms_per_request"]["median"] for p in ps]),
            "b32": med([p["decode_b32"]["requests_per_s_median"] for p in ps])}
e, b = peer(pe), peer(pb)
print(f"{t['fp32']['runs']} Triage runs of each precision around {len(pe)} + {len(pb)} PyTorch runs; medians of the runs")
print(f"{'measure':30} {'triage fp32':>11} {'triage bf16':>11} {'torch eager':>11} {'torch bf16':>11} {'bf16/eager':>10}")
print(f"{'train tokens/s':30} {t['fp32']['train']:11.0f} {t['bf16']['train']:11.0f} {e['train']:11.0f} {b['train']:11.0f} {t['bf16']['train'] / e['train']:10.2f}")
print(f"{'decode batch 1, ms/request':30} {t['fp32']['b1']:11.2f} {t['bf16']['b1']:11.2f} {e['b1']:11.2f} {b['b1']:11.2f} {t['bf16']['b1'] / e['b1']:10.2f}")
print(f"{'decode batch 32, requests/s':30} {t['fp32']['b32']:11.0f} {t['bf16']['b32']:11.0f} {e['b32']:11.0f} {b['b32']:11.0f} {t['bf16']['b32'] / e['b32']:10.2f}")
print(f"bf16 / fp32 training: {t['bf16']['train'] / t['fp32']['train']:.2f}")
print(json.dumps({"triage": t, "pytorch_eager": e, "pytorch_bf16_autocast": b, "torch": pe[0].get("torch")}))
PY
