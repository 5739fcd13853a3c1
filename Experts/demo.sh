#!/usr/bin/env bash
# Asks the shipped suite one question per expert, showing the router's choice. The first `ask` on an
# empty registry imports the suite from Experts/ (a few seconds). Usage: Experts/demo.sh [path/to/triage]
set -uo pipefail
TRIAGE="${1:-.build/release/triage}"
questions=(
  "What is the units digit of 86657956?"
  "What is 0.00104836381 rounded to 5 decimal places?"
  "Which is smaller: -45 or -23756/513?"
  "Put -45, -145759, -0.3 in descending order."
  "Solve 97*n + 12037 = 11843 for n."
  "What is the first derivative of 19506*l**2*o + 72*l*o + 13231810*o wrt l?"
  "What is -12212 - -1.4173059?"
  "How many micrometers are there in 48.47774km?"
  "abadaka"
  "Who painted the Mona Lisa?"
)
for q in "${questions[@]}"; do
  echo "> $q"
  "$TRIAGE" ask --explain "$q"
  echo
done
