#!/usr/bin/env bash
# `triage complete` from the shell, process start to printed completion, for 32 bytes (--multiline, so
# it does not stop at the first newline): with the expert
# named and routed (the router then loads too). A fresh registry holds the shipped suite and the five
# shipped completion experts (Experts/_completion), as a user who imported them has.
# Usage: [TRIAGE=binary] bash Benchmarks/complete_latency.sh [RUNS]   (run it on a quiet machine)
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
# Interleaved (named, routed, named, …) so that drift in the VM's speed hits both alike; medians.
python3 - "$runs" "$triage" "$prefix" <<'PY'
import statistics, subprocess, sys, time
runs, triage, prefix = int(sys.argv[1]), sys.argv[2], sys.argv[3]
cmds = {"named": [triage, "complete", "--expert", "python", "--max-bytes", "32", "--multiline", prefix],
        "routed": [triage, "complete", "--max-bytes", "32", "--multiline", prefix]}
times = {k: [] for k in cmds}
for k, c in cmds.items():
    for _ in range(5): subprocess.run(c, stdout=subprocess.DEVNULL, check=True)  # warm-up
for _ in range(runs):
    for k, c in cmds.items():
        t = time.perf_counter(); subprocess.run(c, stdout=subprocess.DEVNULL, check=True); times[k].append(1e3 * (time.perf_counter() - t))
for k, t in times.items():
    t.sort()
    print(f"{k}: median {statistics.median(t):.1f} ms, best {t[0]:.1f}, p90 {t[int(0.9 * len(t))]:.1f} over {len(t)} runs")
PY
