#!/usr/bin/env bash
# CTest "bench" smoke test: bench/run.sh at tiny sizes (SMOKE=1), the
# micro-benchmarks briefly, every duende-bench scenario and the nginx
# side-by-side, then bench/report.py on a temporary copy of
# docs/benchmarks.md (never the repository's file). Checks that every line
# parses and names its scenario and that the generated block was written.
# No timing checks.
#
# usage: bench/smoke.sh BUILD
set -euo pipefail
build=$1
here=$(dirname "$0")
tmp=$(mktemp -d /tmp/duende-bench-smoke-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cp "$here/../docs/benchmarks.md" "$tmp/benchmarks.md"
SMOKE=1 BENCH_OUT="$tmp/results.jsonl" BENCH_DOC="$tmp/benchmarks.md" bash "$here/run.sh" "$build"
python3 - "$tmp/results.jsonl" "$tmp/benchmarks.md" "$here/../docs/benchmarks.md" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
scenarios = [l["scenario"] for l in lines if "scenario" in l]
assert scenarios == ["throughput", "throughput", "idle", "pickup", "pickup", "bigjob", "realfarm", "http_ratio"], scenarios
commands = [l["command"] for l in lines if l.get("record") == "command"]
for name in ("throughput", "idle", "pickup", "bigjob", "realfarm"):
    assert any(f"duende-bench {name} " in c for c in commands), (name, commands)
h = next(l for l in lines if l.get("scenario") == "http_ratio")
assert h["manager_non_2xx"] == 0 and h["manager_rps"] > 0, h
assert any(l.get("record") == "micro" and l["benchmarks"] for l in lines), "no micro-benchmark results"
doc, original = open(sys.argv[2]).read(), open(sys.argv[3]).read()
assert doc.count("<!-- make bench: begin") == 1 and doc.count("<!-- make bench: end -->") == 1
assert "not the target size" in doc and '"scenario":"realfarm"' in doc, doc
# Outside the block, the copy is the repository's file.
strip = lambda t: t.split("<!-- make bench: begin")[0] + t.split("<!-- make bench: end -->")[-1]
if "<!-- make bench: begin" in original:
    assert strip(doc) == strip(original)
print("smoke: report written to a temporary copy of docs/benchmarks.md")
PY
