#!/usr/bin/env python3
"""Prints the ablation table (markdown) from Benchmarks/recipe/runs/TASK/LABEL.jsonl: per change and task,
the final validation exact match against the baseline's, test exact match, and ms per step."""
import json, pathlib, sys

root = pathlib.Path(__file__).parent / "runs"
runs = {}
for f in sorted(root.glob("*/*.jsonl")):
    lines = [json.loads(l) for l in f.read_text().splitlines() if l.strip()]
    cmd, summary = lines[0], lines[-1]
    every = max(50, cmd["steps"] // 10)  # experts add validates every tenth of the steps; its progress goes to the .log
    log = [json.loads(l) for l in f.with_suffix(".log").read_text().splitlines() if l.startswith("{")]
    curve = sorted({l["step"]: l["validation_accuracy"] for l in log if l.get("event") == "progress" and l["step"] % every == 0}.items())
    t = summary["training"]
    runs[(cmd["label"], cmd["task"])] = dict(flags=cmd["flags"], steps=t["steps"], valid=100 * t["best_validation_accuracy"],
                                           test=100 * summary["metrics"]["exact_match"], ms=1000 * t["seconds"] / t["steps"], curve=curve)
tasks = sorted({t for _, t in runs})
labels = [l for l in ["base", "muon", "rope", "qknorm", "qknorm-lr4e-3", "relu2", "zeroinit", "all"] if any((l, t) in runs for t in tasks)]
labels += sorted({l for l, _ in runs} - set(labels))
print("| change | flags beyond the baseline | " + " | ".join(f"{t}: valid → (test)" for t in tasks) + " | ms/step |")
print("| --- | --- | " + " | ".join("---" for _ in tasks) + " | --- |")
for l in labels:
    cells, ms = [], []
    for t in tasks:
        r, b = runs.get((l, t)), runs.get(("base", t))
        if not r: cells.append("–"); continue
        delta = "" if l == "base" or not b else f" ({r['valid'] - b['valid']:+.1f})"
        cells.append(f"{r['valid']:.1f}{delta} ({r['test']:.1f})")
        ms.append(r["ms"])
    flags = runs[(l, tasks[0])]["flags"].replace("--recipe gpt2 --learning-rate 2e-3", "").strip() or "gpt2, AdamW 2e-3"
    print(f"| {l} | `{flags}` | " + " | ".join(cells) + f" | {min(ms):.0f}–{max(ms):.0f} |")
if "--curves" in sys.argv:
    for (l, t), r in sorted(runs.items(), key=lambda kv: (kv[0][1], labels.index(kv[0][0]))):
        print(t, l, " ".join(f"{s}:{100*a:.1f}" for s, a in r["curve"]))
