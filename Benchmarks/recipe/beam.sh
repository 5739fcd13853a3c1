#!/usr/bin/env bash
# Beam search against greedy decoding on every shipped expert's validation file (router bypassed):
# exact match (and pronounce's word error rate) and the decoding time, for each width given.
#   bash Benchmarks/recipe/beam.sh [WIDTH ...]        (default: 1 4)
# Uses a fresh registry (the suite is imported on first use); prints one JSON line per run, then a table.
set -euo pipefail
cd "$(dirname "$0")/../.."
TRIAGE=${TRIAGE:-.build/release/triage}
widths=("$@"); [ ${#widths[@]} -gt 0 ] || widths=(1 4)
home=$(mktemp -d); trap 'rm -rf "$home"' EXIT
export TRIAGE_HOME=$home TRIAGE_SUITE_DIR=$PWD/Experts
out=$(mktemp)
for dir in Experts/*/; do
  name=$(basename "$dir")
  [ -f "$dir/valid.jsonl" ] && [ -f "$dir/expert.json" ] || continue
  for w in "${widths[@]}"; do
    "$TRIAGE" eval "$dir/valid.jsonl" --expert "$name" --beam "$w" --json 2>/dev/null |
      python3 -c 'import json,sys; r=json.load(sys.stdin); p=r["per_expert"][0]
print(json.dumps({"expert": sys.argv[1], "beam": int(sys.argv[2]), "n": r["n"], "exact_match": r["exact_match"],
  "word_error_rate": p.get("word_error_rate"), "seconds": r["seconds"]}))' "$name" "$w" | tee -a "$out"
  done
done
python3 - "$out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
widths = sorted({r["beam"] for r in rows})
print("\n| expert | n | " + " | ".join(f"beam {w}: exact (s)" for w in widths) + " |")
print("| --- | --- | " + " | ".join("---" for _ in widths) + " |")
for e in sorted({r["expert"] for r in rows}):
    by = {r["beam"]: r for r in rows if r["expert"] == e}
    cells = []
    for w in widths:
        r = by[w]
        wer = f", WER {100*r['word_error_rate']:.2f}" if r["word_error_rate"] is not None else ""
        cells.append(f"{100*r['exact_match']:.2f}{wer} ({r['seconds']:.1f})")
    print(f"| {e} | {by[widths[0]]['n']} | " + " | ".join(cells) + " |")
PY
