#!/usr/bin/env bash
# Where the machine's CPU goes during a throughput run: the CPU of each
# thread of duende-manager and of the load generator, in cores and in
# microseconds per completed task, sampled from /proc over a window in the
# middle of the run.
#
# usage: bench/cpu_budget.sh [BIN_DIR [START_S [WINDOW_S [BENCH ARGS...]]]]
#   BIN_DIR   directory with duende-bench and duende-manager (build/bin)
#   START_S   seconds after the start before sampling (5: past registration)
#   WINDOW_S  length of the sampled window (4)
#   BENCH ARGS default: throughput --workers 1000 --tasks 60000
# The run's directory is kept under ${TMPDIR:-/tmp} (see bench/ab.sh on why).
set -euo pipefail
bin=$(cd "${1:-build/bin}" && pwd)
start=${2:-5}
window=${3:-4}
if (($# > 3)); then args=("${@:4}"); else args=(throughput --workers 1000 --tasks 60000); fi
out=$(mktemp "${TMPDIR:-/tmp}/duende-budget-XXXXXX")
trap 'rm -f "$out" "$out".0 "$out".1' EXIT

"$bin/duende-bench" "${args[@]}" --keep >"$out" &
bench_pid=$!
sleep "$start"
manager_pid=$(pgrep -f "^$bin/duende-manager" | head -1)
[[ -n $manager_pid ]] || { echo "cpu_budget.sh: no duende-manager running from $bin" >&2; exit 1; }
# One line per thread (process, thread name, utime + stime in ticks), then
# the machine's line of /proc/stat.
snap() {
  for t in /proc/"$manager_pid"/task/*; do
    echo "manager $(tr ' ' '_' <"$t/comm") $(awk '{print $14 + $15}' "$t/stat")"
  done
  echo "bench duende-bench $(awk '{print $14 + $15}' /proc/"$bench_pid"/stat)"
  echo "machine $(head -1 /proc/stat)"
}
snap >"$out.0"
sleep "$window"
snap >"$out.1"
wait "$bench_pid"
python3 - "$out" "$window" "$(getconf CLK_TCK)" <<'PY'
import collections, json, os, re, sys
out, window, hz = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])

def load(path):
    threads, machine = collections.Counter(), None
    for line in open(path):
        proc, rest = line.split(None, 1)
        if proc == "machine":
            machine = [int(x) for x in rest.split()[1:]]
            continue
        name, ticks = rest.split()
        threads[(proc, re.sub(r"-\d+$", "-N", name))] += int(ticks)
    return threads, machine

a, ma = load(out + ".0")
b, mb = load(out + ".1")
result = json.loads(open(out).read().strip().splitlines()[-1])
tps = result["tasks_per_s"]
print(f"tasks/s {tps:.0f} (whole run); CPU over {window:.0f} s in the middle:")
total = 0.0
for key in sorted(b, key=lambda k: a[k] - b[k]):
    cores = (b[key] - a[key]) / hz / window
    if cores < 0.005:
        continue
    total += cores
    print(f"  {key[0]:<8} {key[1]:<18} {cores:6.3f} cores {cores / tps * 1e6:7.1f} us/task")
d = [y - x for x, y in zip(ma, mb)]
busy = 1 - (d[3] + d[4]) / sum(d)
ncpu = os.cpu_count()
print(f"  threads above: {total:.3f} cores; machine busy {busy * ncpu:.2f} of {ncpu} cores,"
      f" of which interrupts (irq + softirq) {(d[5] + d[6]) / sum(d) * ncpu:.3f}")
PY
