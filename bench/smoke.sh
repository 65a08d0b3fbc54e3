#!/usr/bin/env bash
# CTest "bench" smoke test: every duende-bench scenario at a tiny size; each
# must print JSON lines that parse and name their scenario. No timing checks.
set -euo pipefail
bin=$1
run() {
  local out
  out=$("$bin/duende-bench" "$@")
  echo "$out"
  while IFS= read -r line; do
    python3 -c 'import json,sys; j=json.loads(sys.argv[1]); assert j["scenario"]==sys.argv[2], j' "$line" "$1"
  done <<<"$out"
}
run throughput --workers 4 --tasks 50
run idle --workers 20 --seconds 1 --warmup 0.5 --poll-interval 0.2
run pickup --workers 2 --repeat 2 --warmup 0.5 --poll-interval 0.3
run bigjob --tasks 500
run realfarm --workers 2 --tasks 6
# The nginx side-by-side (needs nginx and wrk from scripts/setup.sh).
out=$(bash "$(dirname "$0")/http_ratio.sh" "$bin/.." 1 8)
echo "$out"
python3 -c 'import json,sys; j=json.loads(sys.argv[1]); assert j["scenario"]=="http_ratio" and j["manager_non_2xx"]==0 and j["manager_rps"]>0, j' "$out"
