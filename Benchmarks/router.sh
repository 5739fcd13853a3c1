#!/usr/bin/env bash
# Router benchmark: Triage's router against fastText (shared/peers/router_baseline.py) on the same files.
#
# 1. `triage bench route --write-peer-files` writes OUT/{train,valid,test}.jsonl from Experts/*/ (folders
#    starting with _ skipped; expert = folder name). The training file is balanced per expert exactly as
#    Triage's trainer balances (same cap, same seeded draw), so both routers train on the same inputs.
# 2. fastText trains on OUT/train.jsonl and scores OUT/test.jsonl (all its configurations, one thread).
# 3. `triage bench route` trains on the same file (+ OUT/valid.jsonl for the threshold, + the shipped
#    background corpus), scores the same test file and the out-of-distribution set.
# Run on a quiet machine: both measure single-thread throughput.
#
# Env: OUT (default .build/router-bench), EXPERTS (default Experts), PEER (path of router_baseline.py),
#      ROUTER_ARGS (extra `triage bench route` options, e.g. "--max-per-expert 60000"),
#      SCRATCH (a build folder of its own, e.g. /tmp/router-build, when others build in .build meanwhile).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
OUT="${OUT:-.build/router-bench}"
EXPERTS="${EXPERTS:-Experts}"
mkdir -p "$OUT"

PEER="${PEER:-}"
if [ -z "$PEER" ]; then
  for p in "$ROOT/../shared/peers/router_baseline.py" /work/shared/peers/router_baseline.py; do
    if [ -f "$p" ]; then PEER="$p"; break; fi
  done
fi
[ -f "$PEER" ] || { echo "router_baseline.py not found: set PEER=path/to/router_baseline.py" >&2; exit 1; }

# fastText 0.9.2's predict needs numpy < 2.
PY=/opt/venv-fasttext/bin/python
if ! { [ -x "$PY" ] && "$PY" -c "import fasttext, numpy" 2>/dev/null; }; then
  PY="$ROOT/.venv-fasttext/bin/python"
  if ! { [ -x "$PY" ] && "$PY" -c "import fasttext, numpy" 2>/dev/null; }; then
    echo "creating $ROOT/.venv-fasttext (fasttext-wheel==0.9.2, numpy<2)" >&2
    python3 -m venv "$ROOT/.venv-fasttext"
    "$PY" -m pip install --quiet "fasttext-wheel==0.9.2" "numpy<2"
  fi
fi

SWIFT_ARGS=(-c release)
[ -n "${SCRATCH:-}" ] && SWIFT_ARGS+=(--scratch-path "$SCRATCH")
swift build "${SWIFT_ARGS[@]}" --product triage >&2
TRIAGE="$(swift build "${SWIFT_ARGS[@]}" --show-bin-path)/triage"

# shellcheck disable=SC2086
"$TRIAGE" bench route --write-peer-files "$OUT" --experts "$EXPERTS" ${ROUTER_ARGS:-}

echo "== fastText (shared/peers/router_baseline.py, thread=1)" >&2
"$PY" "$PEER" "$OUT/train.jsonl" "$OUT/test.jsonl" > "$OUT/fasttext.json"

echo "== Triage router (one thread)" >&2
OOD=()
[ -f Benchmarks/data/ood_requests.jsonl ] && OOD=(--ood Benchmarks/data/ood_requests.jsonl)
BG=()
[ -f "$EXPERTS/_background/background.jsonl" ] && BG=(--background "$EXPERTS/_background/background.jsonl")
# Near-domain: the measurement set (never trained on) and the training-side modules (used only when
# ROUTER_ARGS sets --near-domain-weight above its default 0).
NEAR=()
[ -f Benchmarks/data/near_domain_requests.jsonl ] && NEAR+=(--near Benchmarks/data/near_domain_requests.jsonl)
[ -f "$EXPERTS/_background/near_domain.jsonl" ] && NEAR+=(--near-background "$EXPERTS/_background/near_domain.jsonl")
# shellcheck disable=SC2086
"$TRIAGE" bench route --train "$OUT/train.jsonl" --valid "$OUT/valid.jsonl" --test "$OUT/test.jsonl" \
  "${OOD[@]}" "${BG[@]}" "${NEAR[@]}" --save "$OUT/router.safetensors" --json ${ROUTER_ARGS:-} > "$OUT/triage.json"

python3 - "$OUT/fasttext.json" "$OUT/triage.json" <<'PY'
import json, sys
ft = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
tr = json.loads(open(sys.argv[2]).read().strip().splitlines()[-1])
b = ft["best"]
print(f"{'':28}{'accuracy':>10}{'requests/s':>12}{'train s':>9}{'n_train':>9}{'n_test':>8}")
for c in ft["configs"]:
    print(f"{'fastText ' + c['config']:28}{c['accuracy']:>10.4f}{c['predictions_per_s']:>12,}{c['train_s']:>9.1f}{c['n_train']:>9}{c['n_test']:>8}")
print(f"{'Triage router':28}{tr['accuracy']:>10.4f}{round(tr['requests_per_s']):>12,}{tr['train_s']:>9.1f}{tr['n_train']:>9}{tr['n_test']:>8}")
wrong = lambda r: round((1 - r["accuracy"]) * r["n_test"])
print(f"fastText best: {b['config']} accuracy {b['accuracy']:.5f} ({wrong(b)} wrong), {b['predictions_per_s']:,} predictions/s")
print(f"Triage: accuracy {tr['accuracy']:.5f} ({wrong(tr)} wrong), "
      f"{tr['requests_per_s'] / b['predictions_per_s']:.2f}x its requests/s; "
      f"threshold {tr['threshold']:.4f} ({tr['threshold_method']})")
print(f"Triage abstention: in-domain accept rate {tr['accept_rate_in_domain']:.4f}, routed accuracy {tr['accuracy_routed']:.4f}"
      + (f", OOD abstain rate {tr['abstain_rate_ood']:.4f} over {tr['n_ood']} "
         + "(" + ", ".join(f"{k} {v:.3f}" for k, v in sorted(tr['abstain_rate_ood_by_kind'].items())) + ")"
         if tr.get("abstain_rate_ood") is not None else ""))
if tr.get("abstain_rate_near") is not None:
    k = tr["abstain_rate_near_by_kind"]
    n = {kind: 0 for kind in k}
    for line in open("Benchmarks/data/near_domain_requests.jsonl"):
        n[json.loads(line)["kind"]] += 1
    head = [x for x in ("near_domain", "word_task") if x in k]
    rate = sum(k[x] * n[x] for x in head) / max(1, sum(n[x] for x in head))
    print(f"Triage near-domain abstain rate {rate:.4f} over {sum(n[x] for x in head)} (near_domain + word_task; "
          + ", ".join(f"{x} {v:.3f}" for x, v in sorted(k.items())) + "); without the novelty check: "
          + ", ".join(f"{x} {v:.3f}" for x, v in sorted(tr['abstain_rate_near_by_kind_no_novelty'].items()))
          + f"; in-domain accept rate without it {tr['accept_rate_in_domain_no_novelty']:.4f}")
PY
