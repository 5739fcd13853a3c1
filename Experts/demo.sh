#!/usr/bin/env bash
# Asks the shipped suite one question per expert, showing the router's choice and whether the answer
# is right. The questions are the first line of each expert's test.jsonl (not picked for success), and one
# request no expert fits. The first `ask` on an empty registry imports the suite from Experts/ (a few
# seconds). Usage: Experts/demo.sh [path/to/triage]
set -uo pipefail
TRIAGE="${1:-.build/release/triage}"
# question|expected answer
cases=(
  "What is the hundred thousands digit of 18595464?|5"
  "Round 5698.7076 to the nearest ten.|5700"
  "Which is smaller: 1928/1083 or 6?|1928/1083"
  "Sort 5, -617, -0.2, 3/5, -0.1 in ascending order.|-617, -0.2, -0.1, 3/5, 5"
  "Solve 70*c + 86*c + 1502 - 242 = 66*c for c.|-14"
  "What is the second derivative of -141*p**2*w**2 + 2*p**2 - 29839*p*w**3 - 1459351*p*w + 2*w wrt w?|-282*p**2 - 179034*p*w"
  "Calculate -48630290.05 - -1.4.|-48630288.65"
  "What is ninety-two fifths of a day in minutes?|26496"
  "'kay|K EY1"
  "Who painted the Mona Lisa?|"
)
right=0
for c in "${cases[@]}"; do
  q="${c%%|*}"; expected="${c#*|}"
  echo "> $q"
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
echo "$right of $(( ${#cases[@]} - 1 )) answers right (the suite's test accuracy per expert: triage experts list)"
