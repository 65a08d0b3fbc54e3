"""Unit tests of bench/report.py on fixed sample lines (no benchmark is run)."""
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "..", "report.py")
spec = importlib.util.spec_from_file_location("report", SCRIPT)
report = importlib.util.module_from_spec(spec)
spec.loader.exec_module(report)

MACHINE = {"record": "machine", "phase": "before", "date": "2026-11-28 10:00 UTC", "nproc": 2, "cpu": "Test CPU",
           "ram_gib": 8.0, "kernel": "6.1.0", "os": "Debian GNU/Linux 12 (bookworm)", "debian_version": "12.11",
           "loadavg": "0.10 0.20 0.30", "commit": "0123456789ab", "build": "RelWithDebInfo (-O2)"}

# Full target sizes; throughput meets tasks/s but misses p99, idle meets CPU
# but misses RSS, pickup meets, bigjob misses, realfarm meets.
FULL = [
    {"scenario": "throughput", "workers": 1000, "tasks": 100000, "tasks_per_s": 12000.0,
     "latency": {"task": {"p99_ms": 12.5}}},
    {"scenario": "idle", "workers": 10000, "manager_cpu_cores": 0.2, "manager_peak_rss_mib": 250.0},
    {"scenario": "pickup", "workers": 10, "long_poll": True, "repeat": 20, "median_ms": 40.0},
    {"scenario": "pickup", "workers": 10, "long_poll": False, "repeat": 20, "median_ms": 2500.0},
    {"scenario": "bigjob", "tasks": 100000, "queued_ms": 2500.0},
    {"scenario": "realfarm", "workers": 100, "tasks": 2000, "tasks_per_s": 1500.0},
    {"scenario": "http_ratio", "manager_rps": 20000.0, "nginx_rps": 40000.0, "manager_p99_ms": 5.0,
     "nginx_p99_ms": 2.5, "manager_non_2xx": 0},
]
MICRO = {"record": "micro", "command": "build/bench/log_serving_bench --benchmark_min_time=0.5", "benchmarks": [
    {"name": "BM_HeadAndTail/1", "run_type": "iteration", "iterations": 100, "real_time": 9000.0,
     "cpu_time": 8000.0, "time_unit": "ns", "label": "1 MiB log"},
    {"name": "BM_HeadAndTail/1024", "run_type": "iteration", "iterations": 100, "real_time": 9500.0,
     "cpu_time": 8100.0, "time_unit": "ns", "label": "1024 MiB log"},
    {"name": "BM_FarmAssignAndComplete/real_time", "run_type": "iteration", "iterations": 50, "real_time": 400.0,
     "cpu_time": 300.0, "time_unit": "us", "items_per_second": 2500.0},
    {"name": "BM_BareSqliteAssignAndComplete/1", "run_type": "iteration", "iterations": 50, "real_time": 200.0,
     "cpu_time": 150.0, "time_unit": "us", "items_per_second": 5000.0},
]}

DOC = """# Benchmarks

Intro.

## Manager under load: `duende-bench` (issue 6)

Intro of the section.

### Figures (first slice)

Hand-written history.
"""


def lines_of(scenarios, micro=True, end=True):
    out = [MACHINE]
    if micro:
        out.append(MICRO)
    for s in scenarios:
        out.append({"record": "command", "command": f"build/bin/duende-bench {s['scenario']} --sample"})
        out.append(s)
    out.append(dict(MACHINE, phase="after", loadavg="1.00 0.50 0.30"))
    if end:
        out.append({"record": "end"})
    return [json.dumps(x) for x in out]


def rows_by_target(run):
    return {(r[0], r[2]): r for r in report.target_rows(run)}


class TargetsTest(unittest.TestCase):
    def test_met_and_not_met_at_the_target_sizes(self):
        rows = rows_by_target(report.Run(lines_of(FULL)))
        self.assertEqual(rows[("throughput", "tasks/s ≥ 10,000")][4], "yes")
        self.assertEqual(rows[("throughput", "p99 of POST /task ≤ 10 ms")][4], "**no**")
        self.assertEqual(rows[("throughput", "p99 of POST /task ≤ 10 ms")][3], "12.5 ms")
        self.assertEqual(rows[("idle farm", "Manager CPU ≤ 0.25 cores")][4], "yes")
        self.assertEqual(rows[("idle farm", "Manager peak RSS ≤ 200 MiB")][4], "**no**")
        self.assertEqual(rows[("pickup (long poll)", "median ≤ 100 ms")][3], "40 ms")  # the long-poll line
        self.assertEqual(rows[("pickup (long poll)", "median ≤ 100 ms")][4], "yes")
        self.assertEqual(rows[("big job", "queued ≤ 2,000 ms")][4], "**no**")
        self.assertEqual(rows[("real farm", "tasks/s ≥ 1,000")][4], "yes")
        self.assertEqual(rows[("logs", "1 GiB head/tail ≤ 5 ms")][4], "yes")

    def test_the_paced_throughput_run_has_its_own_row(self):
        paced = {"scenario": "throughput", "workers": 1000, "tasks": 20000, "task_ms": 1000.0, "tasks_per_s": 950.0,
                 "latency": {"task": {"p99_ms": 8.0}}}
        # Listed first: the saturated row must still pick the line without durations.
        rows = rows_by_target(report.Run(lines_of([paced] + FULL)))
        self.assertEqual(rows[("throughput", "p99 of POST /task ≤ 10 ms")][3], "12.5 ms")
        self.assertEqual(rows[("throughput", "tasks/s ≥ 10,000")][4], "yes")
        row = rows[("throughput, tasks of 0.5-1.5 s", "p99 of POST /task ≤ 10 ms")]
        self.assertEqual((row[3], row[4]), ("8 ms", "yes"))
        alone = rows_by_target(report.Run(lines_of(FULL)))
        self.assertEqual(alone[("throughput, tasks of 0.5-1.5 s", "p99 of POST /task ≤ 10 ms")][4], "not run")

    def test_bounds_are_inclusive(self):
        at_bound = [dict(FULL[0], tasks_per_s=10000, latency={"task": {"p99_ms": 10}})]
        rows = rows_by_target(report.Run(lines_of(at_bound)))
        self.assertEqual(rows[("throughput", "tasks/s ≥ 10,000")][4], "yes")
        self.assertEqual(rows[("throughput", "p99 of POST /task ≤ 10 ms")][4], "yes")

    def test_a_run_at_another_size_is_flagged_not_judged(self):
        small = [dict(FULL[0], workers=100, tasks=5000), dict(FULL[1], workers=1000),
                 dict(FULL[2], repeat=5), dict(FULL[4], tasks=20000), dict(FULL[5], workers=20, tasks=400),
                 dict(FULL[0], workers=100, tasks=2000, task_ms=1000.0)]
        for row in report.target_rows(report.Run(lines_of(small, micro=False))):
            if row[0] == "logs":
                self.assertEqual(row[4], "not run")
            else:
                self.assertTrue(row[4].startswith("not the target size"), row)
        rows = rows_by_target(report.Run(lines_of(small)))
        self.assertEqual(rows[("throughput", "tasks/s ≥ 10,000")][1], "N=100, M=5,000")
        self.assertIn("N=1,000, M=100,000", rows[("throughput", "tasks/s ≥ 10,000")][4])

    def test_a_missing_scenario_is_not_run(self):
        rows = rows_by_target(report.Run(lines_of([FULL[0]])))
        self.assertEqual(rows[("big job", "queued ≤ 2,000 ms")][4], "not run")
        self.assertEqual(rows[("idle farm", "Manager CPU ≤ 0.25 cores")][4], "not run")
        self.assertEqual(rows[("throughput", "tasks/s ≥ 10,000")][4], "yes")
        ratios = report.ratio_rows(report.Run(lines_of([FULL[0]], micro=False)))
        self.assertTrue(all(r[3] == "not run" for r in ratios), ratios)

    def test_side_by_side_ratios(self):
        ratios = report.ratio_rows(report.Run(lines_of(FULL)))
        self.assertEqual(ratios[0][1:], ("20,000", "40,000", "0.500"))
        self.assertEqual(ratios[1][3], "2.00")
        self.assertEqual(ratios[2][1:], ("2,500", "5,000", "0.500"))


class WriteTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.doc = os.path.join(self.dir.name, "benchmarks.md")
        self.results = os.path.join(self.dir.name, "results.jsonl")

    def tearDown(self):
        self.dir.cleanup()

    def put(self, path, text):
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)

    def text(self):
        with open(self.doc, encoding="utf-8") as f:
            return f.read()

    def cli(self, *args):
        return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True)

    def write(self, lines):
        self.put(self.results, "\n".join(lines) + "\n")
        return self.cli("write", self.results, self.doc)

    def test_markers_added_once_after_the_intro(self):
        self.put(self.doc, DOC)
        self.assertEqual(self.write(lines_of(FULL)).returncode, 0)
        first = self.text()
        self.assertEqual(first.count(report.BEGIN), 1)
        self.assertEqual(first.count(report.END), 1)
        self.assertLess(first.index("Intro of the section."), first.index(report.BEGIN))
        self.assertLess(first.index(report.END), first.index("### Figures (first slice)"))
        # Outside the block the file is as it was.
        before, after = first.split(report.BEGIN)[0], first.split(report.END)[1]
        self.assertEqual(before + after.lstrip("\n"), DOC)
        # A second run replaces the block instead of adding one.
        self.assertEqual(self.write(lines_of(FULL)).returncode, 0)
        self.assertEqual(self.text(), first)

    def test_only_the_block_is_replaced(self):
        head = "# Doc\n\nhand-written text\n\n"
        tail = "\n## Later\n\nmore history\n"
        self.put(self.doc, head + report.BEGIN + "\nold generated text\n" + report.END + "\n" + tail)
        result = self.write(lines_of(FULL))
        self.assertEqual(result.returncode, 0, result.stderr)
        text = self.text()
        self.assertTrue(text.startswith(head + report.BEGIN))
        self.assertTrue(text.endswith(report.END + "\n" + tail))
        self.assertNotIn("old generated text", text)
        self.assertIn("build/bin/duende-bench bigjob --sample", text)
        self.assertIn("build/bench/log_serving_bench --benchmark_min_time=0.5", text)
        self.assertIn("Test CPU", text)
        self.assertIn("0.10 0.20 0.30 before the run, 1.00 0.50 0.30 after", text)
        self.assertIn(json.dumps(FULL[4]), text)  # raw lines as printed
        self.assertIn("| `BM_FarmAssignAndComplete/real_time` |  | 400 us | 300 us | 50 | 2,500 |", text)

    def assert_refused(self, lines, doc_text=DOC):
        self.put(self.doc, doc_text)
        result = self.write(lines)
        self.assertEqual(result.returncode, 1)
        self.assertEqual(len(result.stderr.strip().splitlines()), 1, result.stderr)
        self.assertIn("nothing written", result.stderr)
        self.assertEqual(self.text(), doc_text)
        return result.stderr

    def test_an_unfinished_run_changes_nothing(self):
        self.assertIn("did not finish", self.assert_refused(lines_of(FULL, end=False)))

    def test_a_line_that_is_not_json_changes_nothing(self):
        lines = lines_of(FULL)
        lines.insert(3, "duende-bench: cannot start the manager")
        self.assertIn("not JSON", self.assert_refused(lines))

    def test_a_line_lacking_a_figure_changes_nothing(self):
        self.assertIn("lacks a figure", self.assert_refused(lines_of([{"scenario": "http_ratio", "manager_rps": 1}])))

    def test_broken_markers_change_nothing(self):
        self.assert_refused(lines_of(FULL), DOC + report.BEGIN + "\n")
        self.assert_refused(lines_of(FULL), report.END + "\n" + DOC + report.BEGIN + "\n")

    def test_a_missing_file_and_bad_usage(self):
        self.put(self.results, "\n".join(lines_of(FULL)) + "\n")
        result = self.cli("write", self.results, os.path.join(self.dir.name, "none.md"))
        self.assertEqual(result.returncode, 1)
        self.assertEqual(self.cli("write", self.results).returncode, 2)
        self.assertEqual(self.cli("machine", "sideways").returncode, 2)


class RecordsTest(unittest.TestCase):
    def test_machine_record(self):
        result = subprocess.run([sys.executable, SCRIPT, "machine", "before"], capture_output=True, text=True)
        self.assertEqual(result.returncode, 0, result.stderr)
        rec = json.loads(result.stdout)
        self.assertEqual((rec["record"], rec["phase"]), ("machine", "before"))
        for key in ("date", "nproc", "cpu", "ram_gib", "kernel", "os", "debian_version", "loadavg", "commit"):
            self.assertIn(key, rec)
        self.assertEqual(rec["nproc"], os.cpu_count())

    def test_micro_record_from_google_benchmark_json(self):
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump({"context": {"num_cpus": 2}, "benchmarks": [dict(MICRO["benchmarks"][2], family_index=0)]}, f)
        try:
            rec = report.micro(f.name, "build/bench/store_bench")
        finally:
            os.unlink(f.name)
        self.assertEqual(rec["command"], "build/bench/store_bench")
        self.assertEqual(rec["benchmarks"], [MICRO["benchmarks"][2]])
        with self.assertRaises(report.ReportError):
            report.micro("/nonexistent.json", "x")


if __name__ == "__main__":
    unittest.main()
