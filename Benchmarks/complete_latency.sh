#!/usr/bin/env bash
# `triage complete` from the shell, process start to printed completion, for 32 bytes (--multiline, so
# it does not stop at the first newline): with the expert
# named and routed (the router then loads too). A fresh registry holds the shipped suite and the five
# shipped completion experts (Experts/_completion), as a user who imported them has.
# Usage: [TRIAGE=binary] bash Benchmarks/complete_latency.sh [RUNS]   (needs hyperfine; run it on a quiet machine)
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-40}"
# TRIAGE=path/to/triage measures another build (for example one from before a change).
if [ -z "${TRIAGE:-}" ]; then swift build -c release --product triage >/dev/null; fi
triage="${TRIAGE:-$(pwd)/.build/release/triage}"
export TRIAGE_HOME=$(mktemp -d) TRIAGE_SUITE_DIR="$(pwd)/Experts"; trap 'rm -rf "$TRIAGE_HOME"' EXIT
"$triage" experts list >/dev/null
for d in python c swift markdown roff; do "$triage" experts import "Experts/_completion/$d" >/dev/null; done
prefix='import os
def main('
out=$(mktemp)
hyperfine -N -w 5 -r "$runs" --export-json "$out" \
    -n named "$triage complete --expert python --max-bytes 32 --multiline '$prefix'" \
    -n routed "$triage complete --max-bytes 32 --multiline '$prefix'" >/dev/null
python3 - "$out" <<'PY'
import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    t = sorted(r["times"])
    print(f"{r['command']}: median {1e3 * r['median']:.1f} ms, best {1e3 * t[0]:.1f}, p90 {1e3 * t[int(0.9 * len(t))]:.1f} over {len(t)} runs")
PY
rm -f "$out"
