"""Unit tests of bench/ab_summary.py on fixed sample lines (no benchmark is run)."""
import importlib.util
import json
import os
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "..", "ab_summary.py")
spec = importlib.util.spec_from_file_location("ab_summary", SCRIPT)
ab_summary = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ab_summary)


def throughput(build, tasks_per_s, p99, task_ms=None):
    j = {"build": build, "scenario": "throughput", "tasks_per_s": tasks_per_s,
         "latency": {"task": {"p99_ms": p99}}, "manager_cpu_cores": 1.0}
    if task_ms is not None:
        j["task_ms"] = task_ms
    return json.dumps(j)


class AbSummaryTest(unittest.TestCase):
    def rows(self, lines):
        table = ab_summary.summary(lines).splitlines()
        return {tuple(c.strip() for c in row.strip("|").split("|")[:2]): row for row in table[2:]}

    def test_paced_and_saturated_throughput_are_summarised_apart(self):
        lines = [
            throughput("old", 4000.0, 300.0), throughput("new", 5000.0, 200.0),
            throughput("old", 900.0, 4.0, task_ms=1000.0), throughput("new", 905.0, 3.0, task_ms=1000.0),
            throughput("old", 4200.0, 320.0, task_ms=0.0), throughput("new", 5200.0, 220.0, task_ms=0.0),
            "round 1 done",  # lines that are not JSON are skipped
        ]
        rows = self.rows(lines)
        saturated = rows[("throughput", "tasks_per_s")]
        self.assertIn("| 4100 | 5100 | 1.24 | 2 + 2 |", saturated)
        paced = rows[("throughput (1000 ms tasks)", "latency.task.p99_ms")]
        self.assertIn("| 4 | 3 | 0.75 | 1 + 1 |", paced)

    def test_a_scenario_only_one_build_ran_is_left_out(self):
        lines = [throughput("old", 4000.0, 300.0), throughput("new", 5000.0, 200.0),
                 json.dumps({"build": "old", "scenario": "bigjob", "submit_ms": 1.0, "queued_ms": 2.0,
                             "db_mib": 3.0})]
        rows = self.rows(lines)
        self.assertIn(("throughput", "tasks_per_s"), rows)
        self.assertNotIn(("bigjob", "queued_ms"), rows)


if __name__ == "__main__":
    unittest.main()
