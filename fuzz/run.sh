#!/usr/bin/env bash
# Fuzzes every target for a bounded time: `make fuzz` runs this after the
# regression tests.
#
#   fuzz/run.sh BUILD_DIR SECONDS_PER_TARGET PARALLEL [TARGET...]
#
# Each target starts from a copy of fuzz/corpus/NAME plus
# fuzz/regressions/NAME in a temporary directory, so the repository's corpus
# is never changed, and uses fuzz/dict/NAME.dict when there is one. Logs and
# any crash/leak/timeout inputs go to BUILD_DIR/fuzz-runs/. Prints one line
# per target (runs, runs per second, coverage) and exits non-zero when any
# target found something; keep such an input in fuzz/regressions/NAME/ once
# the bug is fixed.
set -euo pipefail

build=${1:?usage: fuzz/run.sh BUILD_DIR SECONDS PARALLEL [TARGET...]}
seconds=${2:-20}
parallel=${3:-2}
shift 3 || true
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "$build" && pwd)
out=$build/fuzz-runs
mkdir -p "$out"

if (($#)); then
  targets=("$@")
else
  targets=()
  for f in "$build"/fuzz/fuzz_*; do targets+=("$(basename "$f" | sed 's/^fuzz_//')"); done
fi

run_one() {
  local name=$1 work status dict=()
  work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  mkdir -p "$work/corpus" "$out/$name"
  cp -r "$here/corpus/$name/." "$work/corpus/"
  if [ -d "$here/regressions/$name" ]; then cp -r "$here/regressions/$name/." "$work/corpus/"; fi
  if [ -f "$here/dict/$name.dict" ]; then dict=(-dict="$here/dict/$name.dict"); fi
  status=ok
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    "$build/fuzz/fuzz_$name" "$work/corpus" "${dict[@]}" -max_total_time="$seconds" -timeout=10 \
    -rss_limit_mb=2048 -max_len=8192 -print_final_stats=1 -artifact_prefix="$out/$name/" \
    >"$out/$name.log" 2>&1 || status=FOUND
  local runs rate cov
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$name.log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$out/$name.log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$out/$name.log" | tail -1 | sed 's/cov: //')
  printf '%-20s %-6s runs=%-10s runs/s=%-8s cov=%s\n' "$name" "$status" "${runs:-?}" "${rate:-?}" "${cov:-?}"
  if [ "$status" != ok ]; then
    grep -E 'ERROR|SUMMARY|FUZZ_CHECK|Test unit written' "$out/$name.log" | head -5 | sed 's/^/    /'
    return 1
  fi
}
# Symbolized stack traces: ASan needs llvm-symbolizer's full path.
if [ -z "${ASAN_SYMBOLIZER_PATH:-}" ]; then
  for s in llvm-symbolizer-19 llvm-symbolizer-14 llvm-symbolizer; do
    if command -v "$s" >/dev/null; then export ASAN_SYMBOLIZER_PATH=$(command -v "$s") && break; fi
  done
fi
export -f run_one
export build out here seconds

start=$SECONDS
if printf '%s\n' "${targets[@]}" | xargs -P "$parallel" -I{} bash -c 'run_one "$@"' _ {}; then
  echo "fuzz: ${#targets[@]} targets, ${seconds}s each, $parallel at a time: nothing found ($((SECONDS - start))s)"
else
  echo "fuzz: something was found; logs and inputs in $out"
  exit 1
fi
