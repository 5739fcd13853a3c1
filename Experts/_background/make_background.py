#!/usr/bin/env python3
"""Builds Experts/_background/background.jsonl: generic text for the router's background class
("unlike every registered task"), all from Python 3.11 and its documentation (PSF licence):

  prose     sentences of the documentation's reStructuredText sources (Debian's python3.11-doc)
  question  FAQ headings and other sentences of the documentation that end in '?'
  code      lines of the documentation's code examples and of the standard library's .py files
  shell     command lines from the documentation's examples ('$ ' prompts, 'python -m ...', 'pip ...')

Deterministic: sorted file lists, a seeded sample, de-duplicated, each line 12-160 bytes of UTF-8.
Usage: python3 make_background.py [--docs /usr/share/doc/python3.11/html/_sources] [--stdlib DIR] > background.jsonl
"""
import argparse
import json
import os
import random
import re
import sys
import sysconfig

QUOTAS = {"prose": 1700, "question": 500, "code": 1300, "shell": 300}
MIN_BYTES, MAX_BYTES = 12, 160

ROLE = re.compile(r":[\w:.+-]+:`(?:[^`<]*<)?([^`>]*)>?`")
LINK = re.compile(r"`([^`<]+?)\s*<[^>]*>`_+")
INLINE = re.compile(r"``([^`]+)``|`([^`]+)`_*")
EMPH = re.compile(r"\*\*([^*]+)\*\*|\*([^*\s][^*]*)\*")
SENTENCE = re.compile(r"(?<=[.?!])\s+(?=[A-Z(\"'])")
CODE = re.compile(r"[()=\[\]{}]|^(def|class|import|from|return|for|if|elif|else|while|with|try|except|raise|yield|assert|del|pass|break|continue|lambda|async|await)\b")
SHELL = re.compile(r"^(\$ |% )?(python3?(\.\d+)? -m |pip3? install |python3? [\w./-]+\.py|\./configure|make |cd |ls |sudo |export |chmod |git |grep |find )")


def clean_inline(s):
    s = ROLE.sub(lambda m: m.group(1), s)
    s = LINK.sub(lambda m: m.group(1), s)
    s = INLINE.sub(lambda m: m.group(1) or m.group(2), s)
    s = EMPH.sub(lambda m: m.group(1) or m.group(2), s)
    return " ".join(s.split())


def fits(s):
    n = len(s.encode("utf-8"))
    return MIN_BYTES <= n <= MAX_BYTES


def docs_lines(root):
    """(kind, text) pairs from every .rst.txt file under root."""
    files = sorted(os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs if f.endswith(".rst.txt"))
    for path in files:
        lines = open(path, encoding="utf-8").read().splitlines()
        para, in_code, code_indent = [], False, 0
        for i, raw in enumerate(lines):
            line = raw.rstrip()
            stripped = line.strip()
            nxt = lines[i + 1].strip() if i + 1 < len(lines) else ""
            # FAQ-style headings: a line underlined by ===, ---, ^^^ or ***.
            if stripped and nxt and len(set(nxt)) == 1 and nxt[0] in "=-^*~" and len(nxt) >= len(stripped) - 1:
                if stripped.endswith("?"):
                    yield "question", clean_inline(stripped)
                continue
            if in_code:
                if stripped and (len(line) - len(line.lstrip())) < code_indent:
                    in_code = False
                else:
                    if stripped:
                        text = stripped[4:] if stripped.startswith((">>> ", "... ")) else stripped
                        if SHELL.match(stripped):
                            yield "shell", re.sub(r"^(\$|%) ", "", stripped)
                        elif text and not stripped.startswith("..."):
                            yield "code", text
                    continue
            if stripped.startswith(">>> "):
                yield "code", stripped[4:]
                continue
            if not stripped or stripped.startswith(("..", ":", "|", "+", "=", "-", "*", "#")) or len(set(stripped)) == 1:
                if para:
                    text = clean_inline(" ".join(para))
                    for s in SENTENCE.split(text):
                        yield ("question" if s.endswith("?") else "prose"), s
                    para = []
                if stripped.endswith("::") or stripped.startswith(".. code-block::") or stripped.startswith(".. doctest::"):
                    in_code, code_indent = True, 1
                continue
            if stripped.endswith("::"):
                para.append(stripped[:-1] if not stripped.endswith(" ::") else stripped[:-3])
                text = clean_inline(" ".join(para))
                for s in SENTENCE.split(text):
                    yield ("question" if s.endswith("?") else "prose"), s
                para = []
                in_code, code_indent = True, 1
                continue
            if raw.startswith("   ") and not para:
                continue  # directive bodies and definition lists: not running prose
            para.append(stripped)


def stdlib_code(root):
    files = sorted(os.path.join(root, f) for f in os.listdir(root) if f.endswith(".py"))
    for path in files:
        try:
            text = open(path, encoding="utf-8").read()
        except (UnicodeDecodeError, OSError):
            continue
        for line in text.splitlines():
            s = line.strip()
            if len(s) >= 20 and not s.startswith(("#", '"""', "'''")) and not s.endswith(('"""', "'''")):
                yield "code", s


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", default="/usr/share/doc/python3.11/html/_sources")
    ap.add_argument("--stdlib", default=sysconfig.get_paths()["stdlib"])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    pools = {k: [] for k in QUOTAS}
    seen = set()
    for kind, text in list(docs_lines(args.docs)) + list(stdlib_code(args.stdlib)):
        text = " ".join(text.split())
        if kind == "prose" and (len(text.split()) < 5 or not text[:1].isupper() or not text.endswith(".")):
            continue
        if kind == "question" and len(text.split()) < 3:
            continue
        if kind == "code" and (not CODE.search(text) or re.search(r":\w+:`", text)):
            continue
        if fits(text) and text not in seen:
            seen.add(text)
            pools[kind].append(text)
    rng = random.Random(args.seed)
    out = []
    for kind, quota in QUOTAS.items():
        pool = pools[kind]
        picked = rng.sample(pool, min(quota, len(pool)))
        print(f"{kind}: {len(picked)} of {len(pool)}", file=sys.stderr)
        out += [(kind, t) for t in picked]
    rng.shuffle(out)
    for kind, text in out:
        print(json.dumps({"input": text, "kind": kind}, ensure_ascii=False))


if __name__ == "__main__":
    main()
