#!/usr/bin/env bash
# `triage compare` on the shipped suite as a newcomer runs it: a fresh registry (compare imports the suite
# on first use), the baselines shipped in Experts/_baselines (no training), then the comparison. Prints the
# wall time and a table, and writes the JSON and the HTML report (python3 only formats the table).
# Usage: bash Benchmarks/compare_suite.sh [OUT_DIR] [extra compare options, e.g. --all]
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-compare-out}"; shift || true
mkdir -p "$out"
swift build -c release --product triage >/dev/null
export TRIAGE_HOME=$(mktemp -d); trap 'rm -rf "$TRIAGE_HOME"' EXIT
start=$(date +%s.%N)
.build/release/triage compare "$@" --json --report "$out/compare.html" > "$out/compare.json"
end=$(date +%s.%N)
echo "from an empty registry to the finished comparison: $(echo "$end - $start" | bc) s"
python3 - "$out/compare.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
# `--baseline NAME` leaves the other single model out of the report: show the systems it has.
keys = [k for k in ["routed", "oracle", "single_same_size", "single_same_params"] if k in r["overall"]["systems"]]
print(f"| task | n | router | {' | '.join(keys)} |")
print("|---|---|---|" + "---|" * len(keys))
for t in r["tasks"]:
    cells = []
    for k in keys:
        s = t["systems"][k]
        c = f"{100 * s['exact_match']:.1f}"
        if s.get("word_error_rate") is not None:
            c += f" (WER {100 * s['word_error_rate']:.1f}, PER {100 * s['phone_error_rate']:.1f})"
        cells.append(c)
    print(f"| {t['task']} | {t['n']} | {100 * t['router_accuracy']:.2f} | " + " | ".join(cells) + " |")
o = r["overall"]
print(f"| mean of tasks | {o['n']} | {100 * o['router_accuracy']:.2f} | " + " | ".join(f"{100 * o['systems'][k]['exact_match']:.1f}" for k in keys) + " |")
print(f"| all examples | | | " + " | ".join(f"{100 * o['systems'][k]['exact_match_all_examples']:.1f}" for k in keys) + " |")
print(f"| parameters | | | " + " | ".join(f"{o['systems'][k]['params']:,}" for k in keys) + " |")
print(f"| training FLOPs | | | " + " | ".join(f"{o['systems'][k]['train_flops']:.3g}" for k in keys) + " |")
print(f"| training CPU-seconds | | | " + " | ".join(f"{o['systems'][k]['train_cpu_seconds']:.0f}" for k in keys) + " |")
print(f"| median ms per request | | | " + " | ".join(f"{o['systems'][k]['median_ms']:.2f}" for k in keys) + " |")
for b in r["baselines"]:
    print(f"{b['name']}: {b['params']:,} parameters, {b['steps']} steps at batch {b['batch_size']}, {b['train_flops']:.3g} FLOPs, {b['train_seconds']:.0f} s; {b['note']}")
PY
echo "wrote $out/compare.json and $out/compare.html"
