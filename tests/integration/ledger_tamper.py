# SPDX-License-Identifier: BSD-3-Clause
"""Tamper tests: one byte of a ledger's RocksDB data changed behind the
library's back (ledger_tamper, RocksDB's C API) in every column family
that holds ledger data; `verify` must fail and name the member and the
first bad position; a bundle of a tampered log is refused by another
member.

usage: ledger_tamper.py RISKGATE_LEDGER LEDGER_TAMPER
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ledger_util import Ledger, check, done  # noqa: E402

N = 3000
BLOCK = 500

# (column family, key index, value offset, what the report must say)
CASES = [
    ("entries", 1234, 5, r"position 1234: entry bytes do not match their stored leaf"),
    ("entries", 1234, -1, r"position 1234: entry bytes do not match their stored leaf"),
    ("entries", 7, 0, r"position 7: entry is malformed"),
    ("blocks", 2, 150, r"position 1000: block 2 .*bad signature"),
    ("blocks", 3, 70, r"position 1500: block 3 .*bad signature"),
    ("checkpoints", 1, 60, r"position 999: checkpoint at size 1000"),
    ("nodes", 10, 3, r"position \d+: stored tree node level \d+ index \d+"),
    ("state", 100, 2, r"position \d+: derived state for fingerprint"),
    ("heads", 0, 20, r"position 3000: head record differs"),
]


def main():
    led = Ledger(sys.argv[1])
    tamper = sys.argv[2]
    work = tempfile.mkdtemp(prefix="ledger-tamper-")
    try:
        a, b = led.consortium(work, ["bank-a", "bank-b"])
        lst = os.path.join(work, "l.csv")
        with open(lst, "w") as f:
            f.write("list,kind,value,severity,expiry,reason\n")
            for i in range(N):
                f.write(f"marketing_cheat,MERCHANT,M{i:07d},low,,promo_abuse\n")
        led.run(a, "import", lst, "--block", BLOCK)
        check(led.json(a, "verify")[0]["ok"], "clean ledger verifies")
        b_fresh = os.path.join(work, "b-fresh")
        shutil.copytree(b, b_fresh)
        for cf, index, offset, want in CASES:
            d = os.path.join(work, "t")
            shutil.rmtree(d, ignore_errors=True)
            shutil.copytree(a, d)
            subprocess.run([tamper, os.path.join(d, "db"), cf, str(index), str(offset)],
                           check=True, capture_output=True)
            p = led.run(d, "verify", ok=(1,))
            check(re.search("member bank-a: " + want, p.stderr) is not None,
                  f"{cf}[{index}]@{offset}: report '{p.stderr.strip()}' lacks '{want}'")
            if cf in ("entries", "blocks") and offset >= 0:
                # the tampered log travels no further (a changed stored leaf
                # hash alone is not part of what a bundle carries)
                led.run(d, "bundle", "--out", os.path.join(work, "t.bundle"))
                r = led.json(b, "pull", os.path.join(work, "t.bundle"), ok=(1,))[0]
                check(not r["ok"], f"{cf}: tampered bundle accepted")
                shutil.rmtree(b)
                shutil.copytree(b_fresh, b)  # fresh, empty database again
    finally:
        shutil.rmtree(work)
    done()


if __name__ == "__main__":
    main()
