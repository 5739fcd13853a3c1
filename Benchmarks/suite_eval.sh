#!/usr/bin/env bash
# Reproduces the shipped suite's test accuracy: `triage eval` on each expert's test.jsonl through the
# router and with --expert (bypassing it), next to the accuracy recorded in its manifest.
# Uses a throw-away registry (imports the suite on first use). Usage: bash Benchmarks/suite_eval.sh
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product triage >/dev/null
export TRIAGE_HOME=$(mktemp -d); trap 'rm -rf "$TRIAGE_HOME"' EXIT
T=.build/release/triage
printf '%-14s %10s %10s %10s %12s\n' expert manifest routed direct "routed PER"
for dir in Experts/*/; do
  name=$(basename "$dir"); [ -f "$dir/expert.json" ] || continue
  manifest=$(python3 -c "import json,sys; print(json.load(open('$dir/expert.json'))['metrics']['exact_match'])")
  routed=$("$T" eval "$dir/test.jsonl" --json 2>/dev/null)
  direct=$("$T" eval "$dir/test.jsonl" --expert "$name" --json 2>/dev/null)
  python3 - "$name" "$manifest" "$routed" "$direct" <<'PY'
import json, sys
name, manifest, routed, direct = sys.argv[1], float(sys.argv[2]), json.loads(sys.argv[3]), json.loads(sys.argv[4])
per = next((r.get("phone_error_rate") for r in routed["per_expert"] if r["expert"] == name), None)
print(f"{name:14} {100*manifest:9.2f}% {100*routed['exact_match']:9.2f}% {100*direct['exact_match']:9.2f}% "
      f"{'' if per is None else f'{100*per:10.2f}%'}  (abstained {routed['abstained']}, routed elsewhere "
      f"{sum(r['n'] for r in routed['per_expert'] if r['expert'] != name)})")
PY
done
