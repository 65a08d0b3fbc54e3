#!/usr/bin/env bash
# Runs the benchmarks built in BUILD (default: build): the Google Benchmark
# micro-benchmarks (bench/*_bench), then every duende-bench scenario at the
# target sizes of issue 6 and the nginx side-by-side, printing their output.
# Every record (the machine before and after, each command, each JSON line)
# goes to BENCH_OUT (default BUILD/bench-results.jsonl); at the end
# bench/report.py rewrites the generated block of BENCH_DOC (default
# docs/benchmarks.md) from it. A failing scenario stops the run and leaves
# BENCH_DOC untouched.
#
# QUICK=1 runs the scenarios at small sizes (a minute or two in all); SMOKE=1
# at tiny sizes with short micro-benchmarks (the CTest smoke, seconds).
# http_ratio.sh is skipped (shown as "not run") without nginx or wrk.
set -Eeuo pipefail
build=${1:-build}
here=$(dirname "$0")
report="$here/report.py"
out=${BENCH_OUT:-$build/bench-results.jsonl}
doc=${BENCH_DOC:-$here/../docs/benchmarks.md}
trap 'echo "bench/run.sh: a benchmark failed (line $LINENO); $doc left untouched" >&2' ERR
bench="$build/bin/duende-bench"
[ -x "$bench" ] || { echo "no $bench (configure with -DDUENDE_BENCH=ON)" >&2; exit 1; }
min_time=0.5
[ "${SMOKE:-0}" = 1 ] && min_time=0.01

python3 "$report" machine before "$build" >"$out"
echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)," \
     "$(free -g | awk '/Mem:/ {print $2}') GiB RAM, load $(cut -d' ' -f1-3 /proc/loadavg)"

micro_json=$(mktemp /tmp/duende-bench-micro-XXXXXX)
# Each scenario runs with --keep in a directory of this run, removed at the
# end: removing thousands of task logs right before the next scenario made
# that scenario's file creations up to 10x slower on a journal-less ext4
# (docs/benchmarks.md, "Figures (seventh slice ...)"), a cost of the
# harness, not of the Manager.
runs_dir=$(mktemp -d "${TMPDIR:-/tmp}/duende-bench-runs-XXXXXX")
trap 'rm -f "$micro_json"; rm -rf "$runs_dir"' EXIT
for b in "$build"/bench/*_bench; do
  [ -x "$b" ] || continue
  echo "== $b --benchmark_min_time=$min_time"
  "$b" --benchmark_min_time=$min_time --benchmark_out="$micro_json" --benchmark_out_format=json
  python3 "$report" micro "$micro_json" "$b --benchmark_min_time=$min_time" >>"$out"
done

# One command record, then the lines the command printed.
run() {
  echo "== $*"
  python3 -c 'import json,sys; print(json.dumps({"record": "command", "command": sys.argv[1]}))' "$*" >>"$out"
  "$@" | tee -a "$out"
}
http_ratio() {
  if command -v wrk >/dev/null && { command -v nginx >/dev/null || [ -x /usr/sbin/nginx ]; }; then
    run bash "$here/http_ratio.sh" "$@"
  else
    echo "== skipped bench/http_ratio.sh: needs nginx and wrk (scripts/setup.sh with BENCH=1)"
  fi
}
size=full
[ "${QUICK:-0}" = 1 ] && size=quick
[ "${SMOKE:-0}" = 1 ] && size=smoke
# One row per size and scenario; full = issue 6's target sizes.
while read -r mode scenario args <&3; do
  [ "$mode" = "$size" ] || continue
  # shellcheck disable=SC2086 # the arguments are words
  if [ "$scenario" = http_ratio ]; then
    http_ratio "$build" $args
  else
    TMPDIR=$runs_dir run "$bench" "$scenario" $args --keep
  fi
done 3<<'SIZES'
full  throughput --workers 1000 --tasks 100000
quick throughput --workers 100 --tasks 5000
smoke throughput --workers 4 --tasks 50
full  throughput --workers 1000 --tasks 20000 --task-ms 1000
quick throughput --workers 100 --tasks 2000 --task-ms 1000
smoke throughput --workers 4 --tasks 20 --task-ms 50
full  idle --workers 10000 --seconds 30
quick idle --workers 1000 --seconds 10
smoke idle --workers 20 --seconds 1 --warmup 0.5 --poll-interval 0.2
full  pickup --workers 10 --repeat 20
quick pickup --workers 10 --repeat 5
smoke pickup --workers 2 --repeat 2 --warmup 0.5 --poll-interval 0.3
full  bigjob --tasks 100000
quick bigjob --tasks 20000
smoke bigjob --tasks 500
full  realfarm --workers 100 --tasks 2000
quick realfarm --workers 20 --tasks 400
smoke realfarm --workers 2 --tasks 6
full  http_ratio 10
quick http_ratio 5
smoke http_ratio 1 8
SIZES
python3 "$report" machine after "$build" >>"$out"
echo '{"record": "end"}' >>"$out"
echo "== results in $out"
python3 "$report" write "$out" "$doc"
