#!/usr/bin/env bash
# Runs the benchmarks built in BUILD (default: build): the Google Benchmark
# micro-benchmarks (bench/*_bench), then every duende-bench scenario at the
# target sizes of issue 6, printing one JSON line per scenario. Results go to
# stdout (and BUILD/bench-results.jsonl); docs/benchmarks.md records them
# with the command that produced them (not rewritten automatically).
#
# QUICK=1 runs the scenarios at small sizes (a minute or two in all).
set -euo pipefail
build=${1:-build}
for b in "$build"/bench/*_bench; do
  [ -x "$b" ] || continue
  echo "== $b"
  "$b" --benchmark_min_time=0.5
done

bench="$build/bin/duende-bench"
[ -x "$bench" ] || { echo "no $bench (configure with -DDUENDE_BENCH=ON)"; exit 1; }
out="$build/bench-results.jsonl"
: >"$out"
echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)," \
     "$(free -g | awk '/Mem:/ {print $2}') GiB RAM"
run() {
  echo "== duende-bench $*"
  "$bench" "$@" | tee -a "$out"
}
if [ "${QUICK:-0}" = 1 ]; then
  run throughput --workers 100 --tasks 5000
  run idle --workers 1000 --seconds 10
  run pickup --workers 10 --repeat 5
  run bigjob --tasks 20000
  run realfarm --workers 20 --tasks 400
  echo "== bench/http_ratio.sh $build 5"
  bash "$(dirname "$0")/http_ratio.sh" "$build" 5 | tee -a "$out"
else
  run throughput --workers 1000 --tasks 100000
  run idle --workers 10000 --seconds 30
  run pickup --workers 10 --repeat 20
  run bigjob --tasks 100000
  run realfarm --workers 100 --tasks 2000
  echo "== bench/http_ratio.sh $build 10"
  bash "$(dirname "$0")/http_ratio.sh" "$build" 10 | tee -a "$out"
fi
echo "== results in $out"
