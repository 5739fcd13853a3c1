#!/usr/bin/env bash
# Checks Triage's expert transformer against the PyTorch reference (shared/peers/parity.py) on the same
# safetensors weights, for `nano` and `tiny` random weights: forward logits (tol 1e-4), gradients
# (1e-5) and one AdamW step (1e-5). Exits non-zero on any failure.
# Needs: pip install torch safetensors numpy. Run from the repository root: bash Benchmarks/parity.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PEER="${PARITY_PY:-../shared/peers/parity.py}"
[ -f "$PEER" ] || { echo "parity.sh: $PEER not found (set PARITY_PY)"; exit 2; }
swift build -c release --product triage >/dev/null
TRIAGE=.build/release/triage
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0
for preset in nano tiny; do
  w="$work/$preset.safetensors"; b="$work/$preset-batch.safetensors"
  "$TRIAGE" parity init --preset "$preset" --seed 3 --batch 4 --seq 48 "$w" "$b"
  "$TRIAGE" parity forward "$w" "$b" "$work/t-fwd.safetensors"
  python3 "$PEER" forward "$w" "$b" "$work/p-fwd.safetensors" >/dev/null
  "$TRIAGE" parity grads "$w" "$b" "$work/t-grads.safetensors"
  python3 "$PEER" grads "$w" "$b" "$work/p-grads.safetensors" >/dev/null
  "$TRIAGE" parity step "$w" "$b" "$work/t-step.safetensors"
  python3 "$PEER" step "$w" "$b" "$work/p-step.safetensors" >/dev/null
  for check in "fwd 1e-4" "grads 1e-5" "step 1e-5"; do
    set -- $check
    printf '%-5s %-6s ' "$preset" "$1"
    python3 "$PEER" compare "$work/t-$1.safetensors" "$work/p-$1.safetensors" --tol "$2" || fail=1
  done
done
[ "$fail" = 0 ] && echo "parity: all checks passed" || echo "parity: FAILED"
exit "$fail"
