# SPDX-License-Identifier: BSD-3-Clause
"""Repeated runs of riskgate-ledger leave a bounded number of files behind.

usage: ledger_files.py RISKGATE_LEDGER

200 rounds, each of: `head` and `receipt verify` (read only), `add` and
`hit` (writes to the log and to the receipts store), and a `pull` of the
member's own bundle and an `add` refused as already listed (sessions that
open for writing and write nothing).  Every 25 rounds the two RocksDB
directories (DIR/db, DIR/receipts) are counted: at most one old info log
(LOG.old.*), at most two WAL files (*.log), and in all at most DB_MAX and
RECEIPTS_MAX files, whatever the number of rounds; the ledger and every
receipt still verify at the end.  Open times are printed, never checked.
"""
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ledger_util import check, main_in_tmp  # noqa: E402

ROUNDS = 200
# 8 fixed files (CURRENT, IDENTITY, LOCK, LOG, LOG.old, MANIFEST, 2 OPTIONS),
# 2 WAL files, and per column family at most 4 small table files before
# they are merged (8 families in db, 1 in receipts); some slack
DB_MAX = 48
RECEIPTS_MAX = 16


def census(d):
    names = os.listdir(d) if os.path.isdir(d) else []
    return {"files": len(names),
            "log_old": sum(n.startswith("LOG.old") for n in names),
            "wal": sum(n.endswith(".log") for n in names),
            "bytes": sum(os.path.getsize(os.path.join(d, n)) for n in names)}


def head_ms(led, d):
    t = []
    for _ in range(20):
        s = time.perf_counter()
        led.run(d, "head")
        t.append(time.perf_counter() - s)
    return statistics.median(t) * 1000


def run(led, work):
    a = led.consortium(work, ["bank-a"])[0]
    own = os.path.join(work, "own.bundle")
    before = head_ms(led, a)
    worst = {"db": 0, "receipts": 0}
    for i in range(ROUNDS):
        led.run(a, "head")
        pos = json.loads(led.run(a, "add", "marketing_cheat", "MERCHANT", f"m{i}").stdout)["pos"]
        led.run(a, "receipt", "verify")
        led.run(a, "hit", "bank-a", pos, "--detail", f"stan {i:06d}")
        led.run(a, "add", "marketing_cheat", "MERCHANT", f"m{i}", ok=(1,))
        if i == 0:
            led.run(a, "bundle", "--out", own)
        led.run(a, "pull", own)
        if (i + 1) % 25:
            continue
        for sub, most in (("db", DB_MAX), ("receipts", RECEIPTS_MAX)):
            c = census(os.path.join(a, sub))
            worst[sub] = max(worst[sub], c["files"])
            check(c["files"] <= most and c["log_old"] <= 1 and c["wal"] <= 2,
                  f"after {i + 1} rounds, {sub}: {c} (at most {most} files, 1 old info "
                  "log, 2 WAL files)")
    after = head_ms(led, a)
    print(f"{ROUNDS} rounds: most files db {worst['db']}, receipts {worst['receipts']}; "
          f"`head` median {before:.1f} ms before, {after:.1f} ms after")
    check(led.json(a, "verify")[0]["ok"], "the ledger verifies")
    r = led.json(a, "receipt", "verify")[0]
    check(r["ok"] and r["shared"] == ROUNDS, f"every receipt verifies: {r}")


if __name__ == "__main__":
    main_in_tmp("ledger-files-", run)
