#!/usr/bin/env python3
"""CPU seconds to compile given files in given build trees.

    python3 bench/compile_cost.py TREE... -- FILE...

Each FILE (a path relative to the source root) is compiled once per TREE
with that tree's exact command from its compile_commands.json, without
ccache and into a scratch object, and the compiler's CPU time (user +
system) is printed: a way to compare compilers and flags (e.g. the GCC and
clang sanitizer trees) that the machine's load does not distort as much as
wall time does.
"""
import json
import os
import re
import resource
import subprocess
import sys
import tempfile


def commands(tree, files):
    out = {}
    with open(os.path.join(tree, "compile_commands.json")) as f:
        for entry in json.load(f):
            for name in files:
                # The fuzz-only copies of the libraries compile the same files.
                if entry["file"].endswith("/" + name) and "_fuzz.dir" not in entry["command"]:
                    out[name] = entry
    return out


def cpu_seconds(entry, scratch):
    cmd = entry["command"].replace("/usr/bin/ccache ", "")
    cmd = re.sub(r" -o \S+", " -o " + os.path.join(scratch, "o.o"), cmd)
    cmd = re.sub(r" -MF \S+", " -MF " + os.path.join(scratch, "o.d"), cmd)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, shell=True, cwd=entry["directory"], check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def main(argv):
    if "--" not in argv:
        sys.exit("usage: compile_cost.py TREE... -- FILE...")
    cut = argv.index("--")
    trees, files = argv[:cut], argv[cut + 1:]
    if not trees or not files:
        sys.exit("usage: compile_cost.py TREE... -- FILE...")
    per_tree = {tree: commands(tree, files) for tree in trees}
    totals = dict.fromkeys(trees, 0.0)
    with tempfile.TemporaryDirectory() as scratch:
        print("file\t" + "\t".join(trees))
        for name in files:
            row = [name]
            for tree in trees:
                entry = per_tree[tree].get(name)
                if entry is None:
                    row.append("-")
                    continue
                seconds = cpu_seconds(entry, scratch)
                totals[tree] += seconds
                row.append("%.1f" % seconds)
            print("\t".join(row), flush=True)
    print("total\t" + "\t".join("%.1f" % totals[t] for t in trees))


if __name__ == "__main__":
    main(sys.argv[1:])
