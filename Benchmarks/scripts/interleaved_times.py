#!/usr/bin/env python3
# interleaved_times.py RUNS name=command ... : runs the shell commands in turn, RUNS rounds (after 3 warm-ups
# each), and prints each one's median, best and p90 wall time in ms. Interleaving makes drift in the
# machine's speed hit every command alike: used to compare two builds of triage side by side.
import subprocess, sys, time, os, statistics
runs = int(sys.argv[1]); cmds = [a.split("=", 1) for a in sys.argv[2:]]
times = {n: [] for n, _ in cmds}
for n, c in cmds:
    for _ in range(3): subprocess.run(c, shell=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
for i in range(runs):
    for n, c in cmds:
        t = time.perf_counter(); subprocess.run(c, shell=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); times[n].append((time.perf_counter() - t) * 1e3)
for n, _ in cmds:
    t = sorted(times[n]); print(f"{n}: median {statistics.median(t):.1f} ms, best {t[0]:.1f}, p90 {t[int(.9*len(t))]:.1f}")
