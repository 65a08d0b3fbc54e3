#!/usr/bin/env bash
# Side-by-side comparison of two builds (e.g. before and after a change):
# runs the same duende-bench scenarios alternately with each build's own
# duende-bench and duende-manager, so machine noise hits both alike, and
# prints one JSON line per run tagged with the build. Use an even number of
# rounds: the order alternates each round.
#
# usage: [AB_RUNS_DIR=DIR] bench/ab.sh BUILD_A BUILD_B [ROUNDS [SCENARIO...]]
# (each SCENARIO one argument, e.g. "idle --workers 3000 --seconds 20")
set -euo pipefail
a=$1
b=$2
rounds=${3:-3}
scenarios=(
  "throughput --workers 100 --tasks 8000"
  "realfarm --workers 100 --tasks 2000"
  "pickup --workers 10 --repeat 20"
  "bigjob --tasks 50000"
)
if (($# > 3)); then scenarios=("${@:4}"); fi
# Runs keep their directories (--keep) until the end, as in bench/run.sh:
# removing one run's thousands of task logs right before the next run slows
# that run's file creations on a journal-less ext4.
# With AB_RUNS_DIR set, the runs stay there instead: on a journal-less ext4
# the removal of a run's task logs slows file creation for the next few
# minutes (the inode allocator skips inodes freed in the last 60-300 s), so
# comparisons made back to back should not remove anything in between.
if [[ -n ${AB_RUNS_DIR:-} ]]; then
  mkdir -p "$AB_RUNS_DIR"
  runs_dir=$(mktemp -d "$AB_RUNS_DIR/duende-ab-XXXXXX")
else
  runs_dir=$(mktemp -d "${TMPDIR:-/tmp}/duende-ab-XXXXXX")
  trap 'rm -rf "$runs_dir"' EXIT
fi
for ((r = 1; r <= rounds; r++)); do
  for s in "${scenarios[@]}"; do
    # Alternate which build goes first (A B, then B A, ...): a run can leave
    # the machine in a state that helps or hurts the run after it (page
    # cache, the file system's free-inode search after a temp dir of
    # thousands of task logs was removed), and alternating spreads that
    # evenly over both builds.
    order=("$a" "$b")
    if ((r % 2 == 0)); then order=("$b" "$a"); fi
    for build in "${order[@]}"; do
      # shellcheck disable=SC2086
      TMPDIR=$runs_dir "$build/bin/duende-bench" $s --keep | while IFS= read -r line; do
        python3 -c 'import json,sys; j=json.loads(sys.argv[1]); j["build"]=sys.argv[2]; j["round"]=int(sys.argv[3]); print(json.dumps(j, sort_keys=True))' \
          "$line" "$build" "$r"
      done
    done
  done
done
