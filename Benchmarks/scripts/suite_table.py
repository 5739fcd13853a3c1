"""Prints the README's suite table from Experts/*/expert.json (the manifests `triage experts train-suite` writes)."""
import json
import os
import sys

suite = sys.argv[1] if len(sys.argv) > 1 else "Experts"
spec = json.load(open(os.path.join(suite, "suite.json")))
print("| expert | task | source | training examples | parameters | training time | test exact match | target |")
print("| --- | --- | --- | --- | --- | --- | --- | --- |")
targets = {"place-value": "≥ 99%", "round-number": "≥ 95%", "compare-pair": "≥ 95%", "sort": "≥ 80%", "differentiate": "≥ 80%",
           "linear-1d": "≥ 50%", "add-or-sub": "≥ 50%", "conversion": "≥ 20%", "pronounce": "WER ≤ 40%"}
for e in spec["experts"]:
    path = os.path.join(suite, e["name"], "expert.json")
    if not os.path.exists(path):
        print(f"| {e['name']} | {e['description']} | | | | not trained yet | | {targets.get(e['name'], '')} |")
        continue
    m = json.load(open(path))
    src = m.get("source") or {}
    source = " ".join(x for x in [src.get("source.package"), src.get("source.version"), src.get("source.module", "")] if x)
    source += f" ({src['licence.name'].split(' (')[0]})" if src.get("licence.name") else ""
    rec = (m.get("training") or {}).get("record") or {}
    met = m.get("metrics") or {}
    acc = f"{100 * met.get('exact_match', 0):.2f}% (n={met.get('n')})"
    if met.get("phone_error_rate") is not None:
        acc += f"; WER {100 * met['word_error_rate']:.2f}%, PER {100 * met['phone_error_rate']:.2f}%"
    time = f"{rec.get('seconds', 0) / 60:.1f} min, {rec.get('steps')} steps, {rec.get('tokens', 0):,} tokens"
    base = (m.get("training") or {}).get("base")
    if base:  # the shared base's cost, split evenly over the experts that share it
        share = len(base["train_data_sha256"])
        b = base["record"]
        time += f" + base share {b['seconds'] / 60 / share:.1f} min ({b['steps'] // share} steps)"
    print(f"| {e['name']} | {e['description']} | {source} | {rec.get('train_examples', '')} | {m['parameters']:,} | "
          f"{time} | {acc} | {targets.get(e['name'], '')} |")
