#!/usr/bin/env python3
"""SQLite's cost for a partial index whose condition is `status IN (3 values)`
against the same condition written as comparisons joined by OR.

SQLite 3.40 evaluates an IN list of more than two constants in a partial
index's condition by building a temporary b-tree of the values, for the old
and the new row of every UPDATE. The Manager's schedulable-task index had
such a condition (issue 6; docs/benchmarks.md, ninth slice).

usage: python3 bench/sqlite_partial_index.py [UPDATES]
Prints microseconds per UPDATE for each form (one transaction, WAL, a
100,000-row table, each task updated claimed -> active -> completed).
"""
import os
import sqlite3
import sys
import tempfile
import time

FORMS = {
    "IN": "status IN ('queued', 'claimed-by-manager', 'soft-failed')",
    "OR": "status = 'queued' OR status = 'claimed-by-manager' OR status = 'soft-failed'",
}


def run(form, updates, path):
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE tasks (id TEXT PRIMARY KEY, status TEXT, jp INT, p INT, worker_id TEXT, body TEXT)")
    db.execute(f"CREATE INDEX schedulable ON tasks (jp DESC, p DESC, id) WHERE {form}")
    db.execute("CREATE INDEX active ON tasks (worker_id) WHERE status = 'active'")
    db.execute("BEGIN")
    for i in range(100000):
        db.execute("INSERT INTO tasks VALUES (?, 'queued', 50, 50, NULL, ?)", ("t%06d" % i, "x" * 300))
    db.execute("COMMIT")
    per_status = updates // 3
    start = time.perf_counter()
    db.execute("BEGIN")
    for status in ("claimed-by-manager", "active", "completed"):
        for i in range(per_status):
            db.execute("UPDATE tasks SET status = ?, worker_id = 'w' WHERE id = ?", (status, "t%06d" % i))
    db.execute("COMMIT")
    elapsed = time.perf_counter() - start
    db.close()
    return elapsed / (3 * per_status) * 1e6


def main():
    updates = int(sys.argv[1]) if len(sys.argv) > 1 else 150000
    print("sqlite", sqlite3.sqlite_version)
    with tempfile.TemporaryDirectory() as d:
        for name, form in FORMS.items():
            us = run(form, updates, os.path.join(d, name + ".sqlite"))
            print(f"{name}: {us:.2f} us per UPDATE")


if __name__ == "__main__":
    main()
