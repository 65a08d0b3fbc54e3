#!/usr/bin/env python3
"""Medians per scenario and build of bench/ab.sh output, and B/A ratios.

usage: bench/ab.sh A B 3 | tee ab.jsonl; bench/ab_summary.py ab.jsonl
"""
import json
import statistics
import sys
from collections import defaultdict

FIGURES = {  # scenario -> (figure, higher is better)
    "throughput": [("tasks_per_s", True), ("latency.task.p99_ms", False), ("manager_cpu_cores", None)],
    "realfarm": [("tasks_per_s", True), ("manager_cpu_cores", None), ("workers_cpu_cores", None)],
    "pickup (long poll)": [("median_ms", False)],
    "pickup (v2 polling)": [("median_ms", False)],
    "bigjob": [("submit_ms", False), ("queued_ms", False), ("db_mib", False)],
    "idle": [("manager_cpu_cores", False), ("manager_peak_rss_mib", False)],
}


def get(d, path):
    for k in path.split("."):
        d = d[k]
    return d


runs = defaultdict(list)
builds = []
for line in open(sys.argv[1]):
    line = line.strip()
    if not line.startswith("{"):
        continue
    j = json.loads(line)
    scenario = j["scenario"]
    if scenario == "pickup":
        scenario += " (long poll)" if j.get("long_poll") else " (v2 polling)"
    runs[(scenario, j["build"])].append(j)
    if j["build"] not in builds:
        builds.append(j["build"])
a, b = builds[0], builds[1]
print(f"| scenario | figure | {a} (median) | {b} (median) | {b} / {a} | runs |")
print("|---|---|---|---|---|---|")
for scenario, figures in FIGURES.items():
    if (scenario, a) not in runs:
        continue
    for fig, _ in figures:
        va = statistics.median(get(r, fig) for r in runs[(scenario, a)])
        vb = statistics.median(get(r, fig) for r in runs[(scenario, b)])
        ratio = vb / va if va else float("nan")
        n = len(runs[(scenario, a)])
        print(f"| {scenario} | {fig} | {va:g} | {vb:g} | {ratio:.2f} | {n} + {n} |")
