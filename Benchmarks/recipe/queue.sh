#!/usr/bin/env bash
# Runs the ablations listed in a queue file one after another (lines: TASK LABEL STEPS FLAGS...), skipping
# those whose result is already in Benchmarks/recipe/runs/; lines may be appended while it runs.
#   nohup bash Benchmarks/recipe/queue.sh Benchmarks/recipe/queue.txt > /tmp/ablate.log 2>&1 &
set -uo pipefail
cd "$(dirname "$0")/../.."
queue=$1
n=0
while true; do
  line=$(sed -n "$((n + 1))p" "$queue")
  [ -z "$line" ] && break
  n=$((n + 1))
  case "$line" in \#*) continue ;; esac
  read -r task label steps flags <<< "$line"
  [ -f "Benchmarks/recipe/runs/$task/$label.jsonl" ] && continue
  # shellcheck disable=SC2086
  bash Benchmarks/recipe/ablate.sh "$task" "$label" "$steps" $flags || echo "$task $label: failed"
done
