#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""
Error text that quotes input leaves riskgate-dp and riskgate-dissect masked
(docs/identifiers.md, "Free text"): a card number put where a dialect, a
port, an identifier kind, a list value or a command-line argument belongs
is named in the error as 453201******0366, never whole.  Each case must
fail with an error (exit status not 0) that shows the masked form.

usage: tool_errors_masked.py riskgate-dp riskgate-dissect
"""

import os
import subprocess
import sys
import tempfile

PAN = "4532015112830366"
MASKED = "453201******0366"
SPACED = "4532 0151 1283 0366"
SPACED_MASKED = "4532 01** **** 0366"


def run(cmd):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 1
    dp, ds = sys.argv[1:3]
    failed = 0
    with tempfile.TemporaryDirectory(prefix="tool_errors_masked.") as tmp:
        cap = os.path.join(tmp, "empty.pcap")
        with open(cap, "wb") as fp:
            fp.write(bytes.fromhex("d4c3b2a1020004000000000000000000ffff000001000000"))
        conf = os.path.join(tmp, "dp.conf")
        with open(conf, "w") as fp:
            fp.write('services = ( { port = 5000; dialect = "%s"; } );\n' % PAN)
        lists = os.path.join(tmp, "lists.csv")
        with open(lists, "w") as fp:
            fp.write("list,kind,value\ntxn_fraud,%s,1\n" % PAN)
        cases = [
            ("riskgate-dp config value", [dp, "--", "--config", conf], MASKED),
            ("riskgate-dp argument", [dp, "--no-huge", "-m", "64", "--file-prefix",
                                      "rgmask%d" % os.getpid(), "--", "--replay", cap, PAN],
             MASKED),
            ("riskgate-dp --dialect", [dp, "--", "--replay", cap, "--dialect", PAN], MASKED),
            ("riskgate-dissect --dialect", [ds, "--dialect", PAN, cap], MASKED),
            ("riskgate-dissect --port", [ds, "--port", PAN, cap], MASKED),
            ("riskgate-dissect --list kind", [ds, "--list", lists, cap], MASKED),
            ("riskgate-dissect --port, spaced", [ds, "--port", SPACED, cap], SPACED_MASKED),
        ]
        for name, cmd, want in cases:
            r = run(cmd)
            out = r.stdout + r.stderr
            errs = []
            if r.returncode == 0:
                errs.append("exit status 0")
            if PAN in out or SPACED in out:
                errs.append("the card number shows whole: %r" % out.strip()[-300:])
            if want not in out:
                errs.append("no %s in %r" % (want, out.strip()[-300:]))
            print("%s %s" % ("FAIL" if errs else "ok  ", name))
            for e in errs:
                print("     " + e)
            failed += bool(errs)
        run_dir = "/var/run/dpdk/rgmask%d" % os.getpid()
        if os.path.isdir(run_dir):
            subprocess.run(["rm", "-rf", run_dir])
    print("%d failed" % failed)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
