#!/usr/bin/env python3
"""Medians per scenario and build of bench/ab.sh output, and B/A ratios.

usage: bench/ab.sh A B 3 | tee ab.jsonl; bench/ab_summary.py ab.jsonl

A throughput run with `--task-ms` (a paced run) is its own scenario,
"throughput (N ms tasks)", apart from the saturated one.
"""
import json
import statistics
import sys
from collections import defaultdict

FIGURES = {  # scenario -> (figure, higher is better)
    "throughput": [("tasks_per_s", True), ("latency.task.p99_ms", False), ("manager_cpu_cores", None)],
    "realfarm": [("tasks_per_s", True), ("manager_cpu_cores", None), ("workers_cpu_cores", None)],
    "pickup": [("median_ms", False)],
    "bigjob": [("submit_ms", False), ("queued_ms", False), ("db_mib", False)],
    "idle": [("manager_cpu_cores", False), ("manager_peak_rss_mib", False)],
}


def get(d, path):
    for k in path.split("."):
        d = d[k]
    return d


def label(j):
    """The scenario a line counts under: its name, and what sets its runs apart."""
    scenario = j["scenario"]
    if scenario == "pickup":
        return scenario + (" (long poll)" if j.get("long_poll") else " (v2 polling)")
    if scenario == "throughput" and j.get("task_ms"):
        return f"throughput ({j['task_ms']:g} ms tasks)"
    return scenario


def summary(lines):
    """The Markdown table for the JSON lines of one ab.sh run."""
    runs = defaultdict(list)
    builds, labels = [], []
    for line in lines:
        line = line.strip()
        if not line.startswith("{"):
            continue
        j = json.loads(line)
        name = label(j)
        runs[(name, j["build"])].append(j)
        if j["build"] not in builds:
            builds.append(j["build"])
        if name not in labels:
            labels.append(name)
    a, b = builds[0], builds[1]
    out = [f"| scenario | figure | {a} (median) | {b} (median) | {b} / {a} | runs |", "|---|---|---|---|---|---|"]
    for name in labels:
        figures = FIGURES.get(name.split(" ")[0])
        if not figures or (name, a) not in runs or (name, b) not in runs:
            continue
        for fig, _ in figures:
            va = statistics.median(get(r, fig) for r in runs[(name, a)])
            vb = statistics.median(get(r, fig) for r in runs[(name, b)])
            ratio = vb / va if va else float("nan")
            na, nb = len(runs[(name, a)]), len(runs[(name, b)])
            out.append(f"| {name} | {fig} | {va:g} | {vb:g} | {ratio:.2f} | {na} + {nb} |")
    return "\n".join(out)


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        print(summary(f))
