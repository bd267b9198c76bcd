#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""`riskgate-bench table` leaves no DPDK runtime directory behind.

usage: bench_table_eal.py RISKGATE_BENCH

Runs the table suite on 1000 keys, one round: it must succeed, print its
results, and leave neither its own runtime directory (file prefix
rgbtb<pid>) nor the default one (/var/run/dpdk/rte) when that was not
there before, nor a table file in the huge-page mount.  Needs root and
free huge pages; skips (77) otherwise.
"""
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dp_util import build_arg_as_root, check, hugetlb_dir, result, skip  # noqa: E402

RUN = "/var/run/dpdk"


def huge_free_pages():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("HugePages_Free:"):
                return int(line.split()[1])
    return 0


def main():
    bench = build_arg_as_root(__doc__)
    huge = hugetlb_dir()
    if huge is None or huge_free_pages() < 64:
        skip("needs a hugetlbfs mount and 64 free huge pages")
    had_rte = os.path.exists(os.path.join(RUN, "rte"))
    before = set(os.listdir(huge))
    p = subprocess.Popen([bench, "table", "--keys", "1K", "--rounds", "1"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = p.communicate(timeout=300)
    results = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
    check(p.returncode == 0 and any(r["case"].startswith("miss_heavy") for r in results),
          f"riskgate-bench table ran (exit {p.returncode}: {err.strip()[-300:]})")
    own = os.path.join(RUN, f"rgbtb{p.pid}")
    check(not os.path.exists(own), f"its runtime directory {own} is gone")
    if had_rte:
        print(f"note: {RUN}/rte was there before: that it was not made is left out")
    elif not check(not os.path.exists(os.path.join(RUN, "rte")), f"no {RUN}/rte left behind"):
        shutil.rmtree(os.path.join(RUN, "rte"), ignore_errors=True)  # it was the bench's
    shutil.rmtree(own, ignore_errors=True)
    left = sorted(set(os.listdir(huge)) - before)
    check(not [f for f in left if f.startswith("rg-bench-table")],
          f"no table file left in {huge} ({left})")
    return result()


if __name__ == "__main__":
    sys.exit(main())
