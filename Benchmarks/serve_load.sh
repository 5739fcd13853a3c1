#!/usr/bin/env bash
# Load on `triage serve`, loopback only, bounded in time:
#   64 keep-alive clients for 60 s against the routed model with the suite's test questions
#   (Experts/*/test.jsonl, shuffled), 1,000 malformed requests mixed in (bad JSON, wrong types, missing
#   fields, huge bodies, truncated bodies, slow senders, garbage HTTP), SIGTERM to the server at 60 s
#   while the clients are still sending; then the same questions through `triage ask --file` for comparison.
# Reports requests/s, p50/p99 latency, shed (503) and lost requests, the malformed requests answered
# correctly, RSS at start and end, and the exit status and time after SIGTERM. Writes OUT/serve-load.json.
#
# Env: TRIAGE (default .build-serve/release/triage, else .build/release/triage), OUT (default /tmp/serve-load),
#      CLIENTS (64), SECONDS_ (60), MALFORMED (1000), WARMUP (15 s at full load first, not measured),
#      ASK_LIMIT (requests for `ask --file`; default all).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
TRIAGE="${TRIAGE:-}"
for t in .build-serve/release/triage .build/release/triage; do
  if [ -z "$TRIAGE" ] && [ -x "$t" ]; then TRIAGE="$t"; fi
done
[ -x "$TRIAGE" ] || { echo "no release triage binary: swift build -c release (or set TRIAGE)" >&2; exit 1; }
OUT="${OUT:-/tmp/serve-load}"
CLIENTS="${CLIENTS:-64}"; SECS="${SECONDS_:-60}"; MALFORMED="${MALFORMED:-1000}"
mkdir -p "$OUT"
export TRIAGE_HOME="$OUT/home"
rm -rf "$TRIAGE_HOME"
"$TRIAGE" experts list > /dev/null   # imports the shipped suite

# The suite's test questions, shuffled with a fixed seed.
python3 - "$OUT/requests.jsonl" <<'PY'
import glob, json, random, sys
qs = []
for f in sorted(glob.glob("Experts/*/test.jsonl")):
    if "/_" in f: continue
    qs += [json.loads(l)["input"] for l in open(f) if l.strip()]
random.Random(1).shuffle(qs)
with open(sys.argv[1], "w") as o:
    for i, q in enumerate(qs): o.write(json.dumps({"id": i, "input": q}) + "\n")
print(f"{len(qs)} suite questions", file=sys.stderr)
PY

# Server, with its exit status and time recorded by the subshell that waits for it.
rm -f "$OUT/exit" "$OUT/serve.log"
( "$TRIAGE" serve --host 127.0.0.1 --port 0 2> "$OUT/serve.log" & echo $! > "$OUT/pid"; wait $! && s=0 || s=$?; echo "$s $(date +%s.%N)" > "$OUT/exit" ) &
for _ in $(seq 1 300); do grep -q "listening on" "$OUT/serve.log" 2>/dev/null && break; sleep 0.1; done
PORT="$(sed -n 's/^triage serve: listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$OUT/serve.log")"
[ -n "$PORT" ] || { echo "server did not start" >&2; cat "$OUT/serve.log" >&2; exit 1; }
PID="$(cat "$OUT/pid")"
echo "server pid $PID on 127.0.0.1:$PORT" >&2
# Warm-up: a few requests so every expert's first batch is not in the figures.
for q in "What is the units digit of 86657956?" "Sort 3, 1, 2." "worthies"; do
  curl -s -o /dev/null "http://127.0.0.1:$PORT/v1/completions" -d "{\"model\":\"triage\",\"prompt\":\"$q\"}"
done

# Warm-up at full load (not measured): every expert's decoder grows its buffers to the largest batch it
# will see (up to 64 requests: its KV cache and scratch, ~30 MB per expert), so RSS is read at steady state.
python3 Benchmarks/scripts/serve_load.py "$PORT" "$PID" "$OUT/requests.jsonl" "$OUT/warmup.json" \
  --clients "$CLIENTS" --seconds "${WARMUP:-15}" --malformed 0 > /dev/null
python3 Benchmarks/scripts/serve_load.py "$PORT" "$PID" "$OUT/requests.jsonl" "$OUT/load.json" \
  --clients "$CLIENTS" --seconds "$((SECS + 5))" --malformed "$MALFORMED" --term-at "$SECS"
for _ in $(seq 1 150); do [ -f "$OUT/exit" ] && break; sleep 0.1; done
[ -f "$OUT/exit" ] || { echo "server still running 15 s after SIGTERM" >&2; kill -KILL "$PID"; exit 1; }
read -r STATUS EXIT_EPOCH < "$OUT/exit"
TERM_EPOCH="$(python3 -c "import json; print(json.load(open('$OUT/load.json'))['rss']['term_epoch'])")"
echo "server exit status $STATUS, $(python3 -c "print(round($EXIT_EPOCH - $TERM_EPOCH, 2))") s after SIGTERM" >&2

# The same questions through `triage ask --file` (one process, batched per expert).
N="${ASK_LIMIT:-$(wc -l < "$OUT/requests.jsonl")}"
head -n "$N" "$OUT/requests.jsonl" > "$OUT/ask.jsonl"
T0=$(date +%s.%N)
"$TRIAGE" ask --file "$OUT/ask.jsonl" > "$OUT/ask.out" || true
T1=$(date +%s.%N)
python3 - "$OUT" "$STATUS" "$EXIT_EPOCH" "$T0" "$T1" "$N" <<'PY'
import json, sys
out, status, exit_epoch, t0, t1, n = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6])
r = json.load(open(out + "/load.json"))
ask_rps = n / (t1 - t0)
r["exit_status"] = status
r["exit_seconds_after_term"] = round(exit_epoch - r["rss"]["term_epoch"], 2)
r["ask_file"] = {"requests": n, "seconds": round(t1 - t0, 2), "requests_per_s": round(ask_rps, 1)}
r["ratio_vs_ask_file"] = round(r["requests_per_s"] / ask_rps, 2)
json.dump(r, open(out + "/serve-load.json", "w"), indent=1)
m = r["malformed"]
print(f"serve: {r['requests_per_s']} requests/s over {r['seconds']} s, p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms, "
      f"answered {r['answered']} (200: {r['ok_200']}, 422: {r['abstained_422']}), shed 503: {r['shed_503']}, "
      f"other statuses: {r['other_status']}, lost in flight: {r['errors_in_flight']}")
print(f"malformed: {m['correct']} of {m['sent']} answered correctly {m['by_kind']}" + (f"; wrong: {m['wrong']}" if m['wrong'] else ""))
print(f"RSS: start {r['rss'].get('start_kib')} KiB, before SIGTERM {r['rss'].get('before_term_kib')} KiB; samples {r['rss'].get('samples_kib')}")
print(f"SIGTERM: exit status {status} after {r['exit_seconds_after_term']} s; answered after SIGTERM {r['answered_after_term']}, "
      f"refused/closed after SIGTERM {r['refused_after_term']}")
print(f"triage ask --file: {r['ask_file']['requests_per_s']} requests/s ({n} requests in {r['ask_file']['seconds']} s); serve / ask --file = {r['ratio_vs_ask_file']}")
PY
