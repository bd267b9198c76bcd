#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""
Table churn under a looping replay: while riskgate-dp replays a capture in
a loop (--loop N, from memory), another process (lists_table churn) is the
table's writer and inserts and deletes unrelated keys and grows the table
once (a generation switch the dataplane must follow).  Every hit on the
stable (listed) keys must still be found: hits == N x hits per loop, and
the summary must show that the dataplane switched generation.

usage: dp_churn.py riskgate-dp riskgate-gen lists_table
"""

import json
import os
import subprocess
import sys
import tempfile
import time

from dp_util import finish, make_table, report, run, summary, tool_args

TARGET_SEC = 4.0


def main():
    dp, gen, lt = tool_args(__doc__)
    errors = []
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="dp_churn.") as tmp:
        cap, lists = os.path.join(tmp, "c.pcap"), os.path.join(tmp, "l.csv")
        g = run([gen, "--out", cap, "--lists", lists, "--flows", "16", "--messages", "400",
                 "--hit-rate", "0.2", "--seed", "17", "--reorder", "0.05"])
        if g.returncode != 0:
            print("FAIL riskgate-gen: " + g.stderr)
            return 1
        per_loop = json.loads(g.stdout)["hits"]
        key, table = make_table(lt, tmp, [lists])
        base = [dp, "--", "--replay", cap, "--table", table, "--key", key]

        # calibrate: loops for about TARGET_SEC of replay on this machine
        r = run(base + ["--loop", "20"], timeout=120)
        s = summary(r)
        if r.returncode != 0 or s is None:
            print("FAIL calibration run: " + r.stderr[-300:])
            return 1
        loops = max(50, int(TARGET_SEC / max(s["seconds"] / 20, 1e-6)))

        churn = subprocess.Popen([lt, "churn", "--table", table, "--seconds",
                                  str(TARGET_SEC + 2), "--grow-at", "1.0"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            r = run(base + ["--loop", str(loops)], timeout=300)
        finally:
            out, err = churn.communicate(timeout=60)
        s = summary(r)
        if r.returncode != 0 or s is None:
            errors.append("riskgate-dp failed: " + r.stderr[-300:])
        else:
            if s["hits"] != loops * per_loop:
                errors.append("hits %d, expected %d loops x %d" % (s["hits"], loops, per_loop))
            if s["anomalies"]:
                errors.append("anomalies: %s" % s["anomalies"])
            if s["counters"].get("table_switches", 0) < 1:
                errors.append("the dataplane never switched table generation "
                              "(replay %.2f s)" % s["seconds"])
        if churn.returncode != 0:
            errors.append("churn failed: " + err[-300:])
        else:
            c = json.loads(out)
            if c["grows"] != 1:
                errors.append("churn did not grow the table: %s" % out.strip())
            if c["inserted"] == 0:
                errors.append("churn inserted nothing")
        failed = report("churn: %d loops, %s hits, churn %s" % (
            loops, s["hits"] if s else "?", out.strip()), errors)
    return finish(failed, t0)


if __name__ == "__main__":
    sys.exit(main())
