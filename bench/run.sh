#!/usr/bin/env bash
# Runs the benchmarks built in BUILD (default: build). Results go to stdout;
# docs/benchmarks.md records them with the command that produced them.
set -euo pipefail
build=${1:-build}
for b in "$build"/bench/*_bench; do
  [ -x "$b" ] || continue
  echo "== $b"
  "$b" --benchmark_min_time=0.5
done
