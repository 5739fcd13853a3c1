#!/usr/bin/env bash
# One recipe ablation run: trains a task of the shipped suite from random weights with `triage experts add`
# in a scratch registry (the suite's train/valid/test files, a fixed step budget, the recipe flags given),
# and writes the summary to Benchmarks/recipe/runs/TASK/LABEL.jsonl and the progress (the validation curve) to LABEL.log.
#   bash Benchmarks/recipe/ablate.sh TASK LABEL STEPS [recipe flags...]
#   e.g. bash Benchmarks/recipe/ablate.sh sort muon 2000 --recipe gpt2 --learning-rate 2e-3 --optimizer muon
# Summarise every run with: python3 Benchmarks/recipe/summarize.py
set -euo pipefail
cd "$(dirname "$0")/../.."
TRIAGE=${TRIAGE:-.build/release/triage}
task=$1 label=$2 steps=$3; shift 3
out=Benchmarks/recipe/runs/$task
mkdir -p "$out"
home=$(mktemp -d /tmp/triage-ablate.XXXXXX)
trap 'rm -rf "$home"' EXIT
d=Experts/$task
printf '{"event":"command","task":"%s","label":"%s","steps":%s,"flags":"%s"}\n' "$task" "$label" "$steps" "$*" > "$out/$label.jsonl.part"
every=$(( steps / 10 > 50 ? steps / 10 : 50 ))  # experts add validates every tenth of the steps (at least 50)
TRIAGE_HOME=$home "$TRIAGE" experts add "$task-ablation" --data "$d/train.jsonl" --valid "$d/valid.jsonl" --test "$d/test.jsonl" \
  --steps "$steps" --json "$@" 2> "$out/$label.log" | python3 -c '
import json, sys
every = int(sys.argv[1])
for line in sys.stdin:
    d = json.loads(line)
    if "metrics" in d or (d.get("event") == "progress" and d["step"] % every == 0): print(json.dumps(d), flush=True)
' "$every" >> "$out/$label.jsonl.part"
mv "$out/$label.jsonl.part" "$out/$label.jsonl"
tail -1 "$out/$label.jsonl" | python3 -c '
import json, sys
d = json.load(sys.stdin); t = d["training"]; m = d["metrics"]
print("%s %s: test %.2f%%, best validation %.1f%% at step %d; %d steps in %.0f s (%.1f ms/step, %s)" % (sys.argv[1], sys.argv[2],
      100 * m["exact_match"], 100 * t["best_validation_accuracy"], t["best_step"], t["steps"], t["seconds"], 1000 * t["seconds"] / t["steps"], t["precision"]))
' "$task" "$label"
