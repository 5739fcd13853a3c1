#!/usr/bin/env bash
# Asks the shipped suite one question per expert, showing the router's choice and whether the answer
# is right, then one request no expert fits. The questions are picked, and how is part of the output:
# for each expert, the first line of its test.jsonl that it answers right (found with `triage eval
# FILE --expert NAME --examples --json`; for this suite lines 1 to 5), so the demo shows every expert
# working; how often a random request is right is the expert's test accuracy (`triage experts list`,
# the README's table). The first `ask` on an empty registry imports the suite from Experts/ (a few
# seconds). Usage: Experts/demo.sh [path/to/triage]
set -uo pipefail
TRIAGE="${1:-.build/release/triage}"
# expert|test.jsonl line|question|expected answer
cases=(
  "place-value|1|What is the hundred thousands digit of 18595464?|5"
  "round-number|1|Round 5698.7076 to the nearest ten.|5700"
  "compare-pair|2|Which is bigger: 10964 or 11353?|11353"
  "sort|1|Sort 5, -617, -0.2, 3/5, -0.1 in ascending order.|-617, -0.2, -0.1, 3/5, 5"
  "linear-1d|3|Solve -z - 94*z = 42*z - 15*z + 54*z for z.|0"
  "differentiate|5|What is the first derivative of -y**2 - 5294896*y - 8356539 wrt y?|-2*y - 5294896"
  "add-or-sub|4|Sum -0.01481 and 576156.|576155.98519"
  "conversion|3|How many milliseconds are there in 84.64592s?|84645.92"
  "pronounce|4|aardvarks|AA1 R D V AA2 R K S"
  "none||Who painted the Mona Lisa?|"
)
right=0
for c in "${cases[@]}"; do
  IFS='|' read -r expert line q expected <<<"$c"
  if [ "$expert" = none ]; then echo "> $q    (no expert fits this one)"; else echo "> $q    ($expert test line $line)"; fi
  out=$("$TRIAGE" ask --explain "$q")
  status=$?
  echo "$out"
  if [ -z "$expected" ]; then
    [ "$status" -eq 4 ] && echo "(abstained, as it should: no expert fits)" || echo "(should have abstained)"
  elif [ "$(tail -n 1 <<<"$out")" = "$expected" ]; then
    echo "right"; right=$((right + 1))
  else
    echo "wrong: expected $expected"
  fi
  echo
done
echo "$right of $(( ${#cases[@]} - 1 )) answers right. The questions were picked (see above); a random request is right as often as the expert's test accuracy: triage experts list"
