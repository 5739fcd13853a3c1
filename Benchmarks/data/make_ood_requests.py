#!/usr/bin/env python3
"""Builds Benchmarks/data/ood_requests.jsonl: requests unlike every shipped expert's task, to measure how
often the router abstains on them. Taken from sources other than the router's background corpus
(Experts/_background: Python 3.11's documentation and standard library), in four kinds:

  prose     single-sentence entries of Debian's fortune files (fortunes, fortunes-min; BSD licence)
  code      lines of C (glibc headers in /usr/include), Perl (core modules in /usr/share/perl/5.36) and
            JavaScript (npm's lib/ in Debian's nodejs install)
  shell     command lines from the EXAMPLES sections of the installed man pages (sections 1 and 8, Debian 12
            packages; the Google Cloud CLI's pages are left out)
  question  general-knowledge questions made from bsdgames' quiz data (/usr/share/games/bsdgames/quiz; BSD
            licence) with fixed English templates written for this file (capitals, US presidents,
            chemical elements, collective nouns, young animals, Shakespeare, poetry authors), plus
            entries of the fortune files that are a single question

Deterministic (sorted inputs, seeded sampling), de-duplicated, each line 12-160 bytes.
Usage: python3 make_ood_requests.py > ood_requests.jsonl
"""
import glob
import gzip
import json
import os
import random
import re
import subprocess
import sys

PER_KIND = 125
MIN_BYTES, MAX_BYTES = 12, 160
FORTUNES = "/usr/share/games/fortunes"
QUIZ = "/usr/share/games/bsdgames/quiz"


def fits(s):
    return MIN_BYTES <= len(s.encode("utf-8")) <= MAX_BYTES


def fortunes():
    """Entries of every fortune file, attribution lines dropped, whitespace joined."""
    for path in sorted(glob.glob(f"{FORTUNES}/*")):
        if "." in os.path.basename(path) or os.path.islink(path):
            continue
        text = open(path, encoding="utf-8", errors="replace").read()
        for entry in text.split("\n%\n"):
            lines = [l for l in entry.splitlines() if l.strip() and not l.strip().startswith(("--", "-- ", "%"))]
            if not lines or any(l.startswith(("\t\t", "        ")) for l in lines[1:]):
                continue
            yield " ".join(" ".join(lines).split()), "fortunes:" + os.path.basename(path)


def prose_and_questions():
    prose, questions = [], []
    for e, src in fortunes():
        words = e.split()
        if not fits(e) or len(words) < 6 or re.search(r"[0-9]{2}|[<>{}=_|@#]|\bQ:|\bA:", e):
            continue
        if e.count(".") + e.count("!") + e.count("?") > 2 or '"' in e[:1]:
            continue
        if e.endswith("?") and e[0].isupper():
            questions.append((e, src))
        elif e.endswith((".", "!")) and e[0].isupper():
            prose.append((e, src))
    return prose, questions


def quiz_fields(name):
    """Lines of a quiz file as lists of fields, each field in its fullest form: '{x}' kept, '[a|b]' → a,
    top-level 'a|b' → a; backslash-continued lines joined."""
    raw = open(f"{QUIZ}/{name}", encoding="utf-8", errors="replace").read().replace("\\\n", "")
    out = []
    for line in raw.splitlines():
        if not line.strip():
            continue
        fields = []
        for f in line.split(":"):
            while "[" in f:
                f = re.sub(r"\[([^\[\]|]*)(\|[^\[\]]*)?\]", r"\1", f)
            f = f.split("|")[0]
            f = f.replace("{", "").replace("}", "")
            fields.append(" ".join(f.split()))
        out.append(fields)
    return out


def quiz_questions():
    """(question, 'quiz:FILE') pairs from fixed templates over the quiz files' fields."""
    qs = []

    def add(name, text):
        qs.append((text, "quiz:" + name))

    for region in ("africa", "america", "asia", "europe"):
        for country, capital, *_ in quiz_fields(region):
            add(region, f"What is the capital of {country}?")
            add(region, f"Which country has {capital} as its capital city?")
    for state, capital, _abbr, flower, *_ in quiz_fields("state"):
        add("state", f"What is the capital of the state of {state}?")
        add("state", f"Which state has the {flower} as its state flower?")
    for pres, term, vice, succ, *_ in quiz_fields("pres"):
        add("pres", f"Who succeeded {pres} as President of the United States?")
        add("pres", f"Who was vice president under {pres}?")
        add("pres", f"In which years was {pres} President of the United States?")
    for symbol, number, weight, element, *_ in quiz_fields("elements"):
        add("elements", f"What is the chemical symbol for {element.lower()}?")
        add("elements", f"Which element has the symbol {symbol}?")
    for individuals, collective, *_ in quiz_fields("collectives"):
        add("collectives", f"What do you call a group of {individuals}?")
    for baby, adult, *_ in quiz_fields("babies"):
        add("babies", f"What is a young {adult} called?")
    for line, _next, work, *rest in quiz_fields("bard"):
        add("bard", f"Which Shakespeare play contains the line \"{line}\"?")
    for line, _next, poem, author, *_ in quiz_fields("poetry"):
        add("poetry", f"Who wrote the poem {poem}?")
    for victim, killer, *_ in quiz_fields("murders"):
        add("murders", f"Who killed {victim}?")
    for sov, century, succ, *_ in quiz_fields("sov"):
        add("sov", f"Who succeeded {sov} on the English throne?")
    return [q for q in qs if fits(q[0])]


def unique(pairs):
    """(text, source) pairs with each text once (its first source), sorted by text."""
    first = {}
    for text, source in pairs:
        first.setdefault(text, source)
    return sorted(first.items())


def code_lines():
    c, perl, js = [], [], []
    for path in sorted(glob.glob("/usr/include/*.h")):
        for line in open(path, encoding="utf-8", errors="replace"):
            s = " ".join(line.split())
            if len(s) >= 20 and not s.startswith(("/*", "*", "//", "#include")) and re.search(r"[;(){}=]", s):
                c.append((s, path))
    for path in sorted(glob.glob("/usr/share/perl/5.*/*.pm")):
        pod = False
        for line in open(path, encoding="utf-8", errors="replace"):
            if line.startswith("="):
                pod = not line.startswith("=cut")
                continue
            s = " ".join(line.split())
            if not pod and len(s) >= 20 and not s.startswith("#") and re.search(r"[;{}$@%]", s):
                perl.append((s, path))
    npm = os.path.join(os.path.dirname(os.path.realpath("/usr/bin/node")), "..", "lib", "node_modules", "npm", "lib")
    for path in sorted(glob.glob(os.path.join(npm, "**", "*.js"), recursive=True)):
        for line in open(path, encoding="utf-8", errors="replace"):
            s = " ".join(line.split())
            if len(s) >= 20 and not s.startswith(("//", "/*", "*")) and re.search(r"[;(){}=]", s):
                js.append((s, "npm/lib/" + os.path.relpath(path, npm)))
    return c, perl, js


def man_examples():
    """Command lines in EXAMPLES sections: indented lines that start with a '$ ' or '# ' prompt, or with the
    page's own command name. At most two per page."""
    pages = []
    for section in ("man1", "man8"):
        for path in sorted(glob.glob(f"/usr/share/man/{section}/*.gz")):
            if os.path.basename(path).startswith(("gcloud", "bq.", "gsutil")):
                continue  # Google Cloud CLI's thousands of pages (not from Debian) would crowd out the rest
            with gzip.open(path, "rt", encoding="utf-8", errors="replace") as f:
                if re.search(r'^\.SH "?EXAMPLES?"?', f.read(), re.M):
                    pages.append(path)
    out = []
    env = dict(os.environ, MANWIDTH="200", MAN_KEEP_FORMATTING="", LANG="C.UTF-8")
    for path in pages:
        name = os.path.basename(path).split(".")[0]
        try:
            text = subprocess.run(["man", "-l", "-P", "cat", "--no-hyphenation", "--no-justification", path],
                                  capture_output=True, text=True, env=env, timeout=20).stdout
        except subprocess.TimeoutExpired:
            continue
        text = re.sub(r".\x08", "", text)
        section, found = None, []
        for line in text.splitlines():
            if line and not line[0].isspace():
                section = line.strip()
                continue
            if section not in ("EXAMPLE", "EXAMPLES") or not line.startswith("       "):
                continue
            s = line.strip()
            s = re.sub(r"^(\$|#|%) ", "", s)
            if s.split(" ")[0] in (name, "sudo") and len(s.split()) >= 2 and fits(s) and s not in [f[0] for f in found]:
                found.append((s, "man:" + os.path.basename(path).removesuffix(".gz")))
        out += found[:2]
    return out


def main():
    rng = random.Random(0)
    prose, fortune_questions = prose_and_questions()
    quiz = quiz_questions()
    c, perl, js = code_lines()
    shell = man_examples()
    third = PER_KIND // 3
    code = rng.sample(unique(c), third) + rng.sample(unique(perl), third) + rng.sample(unique(js), PER_KIND - 2 * third)
    n_fortune_q = min(25, len(fortune_questions))
    questions = rng.sample(unique(quiz), PER_KIND - n_fortune_q) + rng.sample(unique(fortune_questions), n_fortune_q)
    kinds = {
        "prose": rng.sample(unique(prose), PER_KIND),
        "code": code,
        "shell": rng.sample(unique(shell), min(PER_KIND, len(unique(shell)))),
        "question": questions,
    }
    sources = {"prose": len(prose), "code": f"{len(c)} C, {len(perl)} Perl, {len(js)} JavaScript",
               "shell": len(shell), "question": f"{len(quiz)} quiz, {len(fortune_questions)} fortune"}
    for k, v in kinds.items():
        print(f"{k}: {len(v)} picked from {sources[k]}", file=sys.stderr)
    for kind in ("prose", "code", "shell", "question"):
        for text in kinds[kind]:  # (input, source)
            print(json.dumps({"input": text[0], "kind": kind, "source": text[1]}, ensure_ascii=False))


if __name__ == "__main__":
    main()
