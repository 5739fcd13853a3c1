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
.build/release/triage bench train --json --threads "$threads" > "$out/train.json"
.build/release/triage bench decode --json --threads "$threads" > "$out/decode.jsonl"
python3 "$PEER" --child eager --threads "$threads" 2> "$out/torch.log" | tail -1 > "$out/torch.json"
.build/release/triage bench train --json --threads "$threads" > "$out/train2.json"
.build/release/triage bench decode --json --threads "$threads" > "$out/decode2.jsonl"
python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
tr = [json.load(open(f"{out}/{f}")) for f in ("train.json", "train2.json")]
dec = [json.loads(l) for f in ("decode.jsonl", "decode2.jsonl") for l in open(f"{out}/{f}")]
pt = json.load(open(f"{out}/torch.json"))
# Triage ran before and after the peer: the mean of its two runs (each a median), not the better one.
mean = lambda xs: sum(xs) / len(xs)
t_tok = mean([r["tokens_per_s"] for r in tr])
d1 = mean([r["ms_per_request"] for r in dec if r["batch"] == 1])
d32 = mean([r["requests_per_s"] for r in dec if r["batch"] == 32])
p_tok = pt["train"]["tokens_per_s_median"]
p1 = pt["decode_b1"]["ms_per_request"]["median"]
p32 = pt["decode_b32"]["requests_per_s_median"]
print(f"{'measure':34} {'triage':>10} {'pytorch eager':>14} {'ratio':>7}  target")
print(f"{'train tokens/s (median step)':34} {t_tok:10.0f} {p_tok:14.0f} {t_tok / p_tok:7.2f}  >= 1.0")
print(f"{'decode batch 1, ms/request':34} {d1:10.2f} {p1:14.2f} {d1 / p1:7.2f}  <= 0.5")
print(f"{'decode batch 32, requests/s':34} {d32:10.0f} {p32:14.0f} {d32 / p32:7.2f}  >= 1.5")
print(json.dumps({"triage": {"train": tr, "decode": dec}, "pytorch_eager": {"train_tokens_per_s": p_tok,
      "decode_b1_ms": p1, "decode_b32_rps": p32, "torch": pt.get("torch")}}))
PY
