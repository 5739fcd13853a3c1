#!/usr/bin/env python3
"""Rebuilds the five public corpora of the shipped completion experts, reproducibly.

    python3 Experts/data/completion/build_corpora.py [OUT]        (default OUT: .corpora, git-ignored)

Each domain becomes a folder OUT/DOMAIN/ of text files and a manifest Experts/data/completion/DOMAIN.jsonl
(one line per file: path, licence, sha256, bytes), committed, so anyone can check a rebuild file by file.
The corpora themselves are not committed (their licences ask for the notices to travel with copies, and
their packages' rule is "depend, don't copy"); `triage experts add DOMAIN --files OUT/DOMAIN` trains on them.

Sources (all public, all on a Debian 12 machine of this kind or from PyPI; see CORPORA.md in ../shared):
  python  CPython 3.11 standard library, Debian libpython3.11-stdlib: /usr/lib/python3.11/**/*.py
          (dist-/site-packages and test suites left out)                                       PSF-2.0
  c       SQLite 3 amalgamation as vendored by vapor/sqlite-nio 1.13.2 (the Swift package mirror),
          split at its "Begin file" markers into the original source files                      public domain
  swift   .swift files of the apple/* packages in /opt/swift-packages at their newest tag, outside
          Tests/Benchmarks/IntegrationTests and generated *.pb.swift, deduplicated, each file's
          leading licence comment removed (it repeats in every file); capped at 10 MB by path order   Apache-2.0
          (this mirror exists on this machine kind only)
  markdown  *.md files of every package in /opt/swift-packages at its newest tag (READMEs, guides,
          DocC articles), deduplicated                                                 the package's licence
          (Django's docs, the other prose candidate, hold only 4.6 MB without their templated release notes)
  roff    Debian manpages + manpages-dev 6.03-2: regular files under /usr/share/man/man[1-8],
          gunzipped                                                                   per-file (SPDX or notice)
A domain's files are capped at 10 MB in sorted path order, so every rebuild holds the same files.
"""
import gzip
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
CAP = 10 << 20
MAX_FILE = 2 << 20  # the same limit `experts add --files` applies
DJANGO = ("django==5.2.8", "sha256:23254866a5bb9a2cfa6004e8b809ec6246eba4b58a7589bc2772f1bcc8456c7f")


def valid_text(data):
    if b"\0" in data or len(data) == 0 or len(data) > MAX_FILE:
        return False
    try:
        data.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def write_domain(out, domain, files):
    """files: sorted list of (relative path, bytes, licence). Writes OUT/domain and the manifest."""
    root = os.path.join(out, domain)
    if os.path.isdir(root):
        subprocess.run(["rm", "-rf", root], check=True)
    seen, total, rows = set(), 0, []
    for rel, data, licence in sorted(files, key=lambda f: f[0]):
        if not valid_text(data):
            continue
        digest = hashlib.sha256(data).hexdigest()
        if digest in seen:  # exact duplicates once
            continue
        if total + len(data) > CAP:
            break
        seen.add(digest)
        total += len(data)
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        rows.append({"path": rel, "licence": licence, "sha256": digest, "bytes": len(data)})
    with open(os.path.join(HERE, domain + ".jsonl"), "w") as f:
        for r in rows:
            f.write(json.dumps(r, sort_keys=True) + "\n")
    print(f"{domain}: {len(rows)} files, {total / 1e6:.1f} MB -> {root}")


def python_domain():
    base = "/usr/lib/python3.11"
    files = []
    for dirpath, dirnames, filenames in os.walk(base):
        rel_dir = os.path.relpath(dirpath, base)
        parts = rel_dir.split(os.sep)
        dirnames[:] = sorted(d for d in dirnames if d not in ("dist-packages", "site-packages", "test", "tests", "idle_test", "__pycache__"))
        if any(p in ("test", "tests") for p in parts):
            continue
        for n in sorted(filenames):
            if n.endswith(".py"):
                with open(os.path.join(dirpath, n), "rb") as f:
                    files.append((os.path.normpath(os.path.join(rel_dir, n)), f.read(), "PSF-2.0"))
    return files


def c_domain():
    blob = subprocess.run(["git", "-C", "/opt/swift-packages/vapor/sqlite-nio.git", "show", "1.13.2:Sources/VaporCSQLite/sqlite_nio_sqlite3.c"],
                          check=True, capture_output=True).stdout
    files, name, chunk = [], "sqlite3-head.c", []
    marker = re.compile(rb"^/\*+ Begin file ([^ ]+) \*+/$")
    for line in blob.split(b"\n"):
        m = marker.match(line)
        if m:
            if chunk:
                files.append((name, b"\n".join(chunk) + b"\n", "blessing (SQLite public domain)"))
            name, chunk = m.group(1).decode(), []
            continue
        chunk.append(line)
    if chunk:
        files.append((name, b"\n".join(chunk) + b"\n", "blessing (SQLite public domain)"))
    return [(f"sqlite/{n}", d, l) for n, d, l in files]


LICENCE_HEADER = re.compile(rb"\A(?:\s*//[^\n]*\n)+")


def swift_domain():
    root = "/opt/swift-packages/apple"
    files, seen = [], set()
    for repo in sorted(os.listdir(root)):
        git = os.path.join(root, repo)
        tags = subprocess.run(["git", "-C", git, "tag", "--sort=-v:refname"], capture_output=True, text=True).stdout.split()
        if not tags:
            continue
        tag = tags[0]
        listing = subprocess.run(["git", "-C", git, "ls-tree", "-r", tag], capture_output=True, text=True).stdout
        for line in listing.splitlines():
            meta, path = line.split("\t", 1)
            _, kind, sha = meta.split()
            if kind != "blob" or not path.endswith(".swift") or path.endswith(".pb.swift"):
                continue
            if any(p in ("Tests", "Benchmarks", "IntegrationTests") for p in path.split("/")) or sha in seen:
                continue
            seen.add(sha)
            data = subprocess.run(["git", "-C", git, "cat-file", "blob", sha], capture_output=True).stdout
            head = LICENCE_HEADER.match(data)
            if head and (b"Licensed under" in head.group(0) or b"LICENSE" in head.group(0) or b"License" in head.group(0)):
                data = data[head.end():].lstrip(b"\n")
            files.append((f"{repo.removesuffix('.git')}/{path}", data, "Apache-2.0"))
    return files


def markdown_domain():
    root = "/opt/swift-packages"
    files, seen = [], set()
    for org in sorted(os.listdir(root)):
        org_dir = os.path.join(root, org)
        repos = [org] if org.endswith(".git") else sorted(os.listdir(org_dir)) if os.path.isdir(org_dir) else []
        for repo in repos:
            git = os.path.join(root, repo) if org.endswith(".git") else os.path.join(org_dir, repo)
            tags = subprocess.run(["git", "-C", git, "tag", "--sort=-v:refname"], capture_output=True, text=True).stdout.split()
            if not tags:
                continue
            licence = "see the package's LICENSE"
            for name in ("LICENSE", "LICENSE.txt", "LICENSE.md"):
                text = subprocess.run(["git", "-C", git, "show", f"{tags[0]}:{name}"], capture_output=True).stdout[:3000]
                if text:
                    licence = "MIT" if b"Permission is hereby granted" in text else "Apache-2.0" if b"Apache License" in text else "BSD" if b"Redistribution and use" in text else licence
                    break
            listing = subprocess.run(["git", "-C", git, "ls-tree", "-r", tags[0]], capture_output=True, text=True).stdout
            for line in listing.splitlines():
                meta, path = line.split("\t", 1)
                _, kind, sha = meta.split()
                if kind != "blob" or not path.lower().endswith(".md") or sha in seen:
                    continue
                seen.add(sha)
                data = subprocess.run(["git", "-C", git, "cat-file", "blob", sha], capture_output=True).stdout
                org_name = "" if org.endswith(".git") else org + "/"
                files.append((f"{org_name}{repo.removesuffix('.git')}/{path}", data, licence))
    return files


def rst_domain(out):
    cache = os.path.join(out, "_downloads")
    os.makedirs(cache, exist_ok=True)
    req = os.path.join(cache, "requirements.txt")
    with open(req, "w") as f:
        f.write(f"{DJANGO[0]} --hash={DJANGO[1]}\n")
    sdist = [n for n in os.listdir(cache) if n.startswith("django-5.2.8") and n.endswith(".tar.gz")]
    if not sdist:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "--require-hashes", "-r", req, "-d", cache],
                       check=True, capture_output=True)
        sdist = [n for n in os.listdir(cache) if n.startswith("django-5.2.8") and n.endswith(".tar.gz")]
    files = []
    with tarfile.open(os.path.join(cache, sdist[0])) as t:
        for m in t.getmembers():
            parts = m.name.split("/")
            if m.isfile() and len(parts) > 2 and parts[1] == "docs" and m.name.endswith(".txt") and parts[2] != "releases":
                files.append(("/".join(parts[2:]), t.extractfile(m).read(), "BSD-3-Clause"))
    return files


def roff_domain():
    base = "/usr/share/man"
    owned = set()
    for pkg in ("manpages", "manpages-dev"):
        owned.update(subprocess.run(["dpkg", "-L", pkg], capture_output=True, text=True).stdout.split())
    files = []
    for path in sorted(owned):
        if not path.startswith(base + "/man") or not path.endswith(".gz") or os.path.islink(path) or not os.path.isfile(path):
            continue
        data = gzip.decompress(open(path, "rb").read())
        m = re.search(rb"SPDX-License-Identifier:\s*([^\n]+)", data[:4000])
        licence = m.group(1).decode().strip() if m else "see the file's notice (Linux man-pages)"
        files.append((os.path.relpath(path, base)[:-3], data, licence))
    return files


def main():
    out = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO, ".corpora"))
    os.makedirs(out, exist_ok=True)
    write_domain(out, "python", python_domain())
    write_domain(out, "c", c_domain())
    write_domain(out, "swift", swift_domain())
    write_domain(out, "markdown", markdown_domain())
    write_domain(out, "roff", roff_domain())


if __name__ == "__main__":
    main()
