#!/usr/bin/env bash
# Trains the five shipped completion experts on the corpora build_corpora.py rebuilds, and exports each to
# Experts/_completion/DOMAIN/ (weights, manifest with the held-out file list and hashes, router windows).
# The recipe is `experts add --files`' own (Recipe.standard, FIM on half the windows), at a fixed step
# budget so the result does not depend on what else the machine is doing:
#   1,500 steps of 16 windows of 256 bytes (about 6M tokens; about 2.5 minutes alone on 2 cores in bf16).
# Usage: bash Experts/data/completion/train.sh [CORPORA_DIR]   (default .corpora; run build_corpora.py first)
set -euo pipefail
cd "$(dirname "$0")/../../.."
corpora="${1:-.corpora}"
export TRIAGE_HOME="${TRIAGE_HOME:-$PWD/.build/completion-home}"
# TRIAGE names a triage binary to use instead of building one.
if [ -z "${TRIAGE:-}" ]; then swift build -c release --product triage >/dev/null; fi
triage="${TRIAGE:-.build/release/triage}"
declare -A what=(
  [python]="Python code like the CPython 3.11 standard library"
  [c]="C code like SQLite's sources"
  [swift]="Swift code like Apple's open-source Swift packages"
  [markdown]="Markdown documentation like Swift packages' READMEs and guides"
  [roff]="Unix manual pages in roff like Linux man-pages"
)
for d in python c swift markdown roff; do
  [ -d "$corpora/$d" ] || { echo "missing $corpora/$d: run python3 Experts/data/completion/build_corpora.py first" >&2; exit 2; }
  if ! $triage experts show "$d" >/dev/null 2>&1; then
    $triage experts add "$d" --files "$corpora/$d" --steps 1500 --batch-size 16 --context 256 --description "${what[$d]}" --json \
      > "/tmp/triage-completion-$d.json"
  fi
  rm -rf "Experts/_completion/$d"
  $triage experts export "$d" "Experts/_completion/$d"
  echo "$d: $(python3 -c "import json,sys; c=json.load(open('Experts/_completion/$d/expert.json'))['completion']; print(f\"{c['train_files']} files, held-out {c['held_out_bits_per_byte']:.3f} bits/byte, next-line {100*c['next_line_exact_match']:.1f}%\")")"
done
