# SPDX-License-Identifier: BSD-3-Clause
"""Crash tests: riskgate-ledger import killed with SIGKILL at random
moments, many times.  After each kill the ledger reopens, `verify` is
clean, and every block the import acknowledged (a --progress-json line:
the block is durable and covered by a signed checkpoint) is present with
the root it was acknowledged with.  A last round cuts the tail off the
newest WAL file (a torn write of an unacknowledged block): the ledger
still opens and verifies, at a block boundary.

usage: ledger_crash.py RISKGATE_LEDGER [ROUNDS]
"""
import glob
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ledger_util import Ledger, check, done  # noqa: E402

LINES = 60000


def write_list(path, round_no):
    # unique ACCOUNT values per round: no Luhn, no duplicates across rounds
    with open(path, "w") as f:
        f.write("list,kind,value,severity,expiry,reason\n")
        for i in range(LINES):
            f.write(f"high_risk_account,ACCOUNT,R{round_no:03d}X{i:08d},high,,mule\n")


def acked_blocks(stdout):
    out = []
    for line in stdout.splitlines():
        try:
            o = json.loads(line)
        except ValueError:
            continue  # a line cut by the kill was never acknowledged
        if "block" in o:
            out.append(o)
    return out


def main():
    led = Ledger(sys.argv[1])
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    work = tempfile.mkdtemp(prefix="ledger-crash-")
    rnd = random.Random(2026)
    try:
        (d,) = led.consortium(work, ["bank-a"])
        acked = []  # every acknowledged block: (size, root)
        nb_killed = 0
        for r in range(rounds):
            lst = os.path.join(work, "l.csv")
            write_list(lst, r)
            p = subprocess.Popen([led.exe, "--dir", d, "import", lst, "--block", "2048",
                                  "--progress-json", "--no-progress"],
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            time.sleep(rnd.uniform(0.05, 0.8))
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                nb_killed += 1
            out, _ = p.communicate()
            acked += [(b["size"], b["root"]) for b in acked_blocks(out)]
            v = led.json(d, "verify", ok=(0, 1))[0]
            check(v["ok"], f"round {r}: verify after kill: {v}")
            size = led.json(d, "head")[0]["size"]
            if acked:
                check(size >= acked[-1][0], f"round {r}: size {size} < acknowledged "
                      f"{acked[-1][0]}")
            # each acknowledged block: its checkpoint is there with its root
            for s, root in acked[-3:]:
                pr = json.loads(led.run(d, "proof", 0, "--size", s).stdout)
                check(pr["root"] == root, f"round {r}: acknowledged size {s} has root "
                      f"{pr['root']}, acknowledged {root}")
        check(nb_killed >= rounds // 2, f"only {nb_killed} of {rounds} imports were killed")

        # the 3rd block write fails (as a full or failing disk would): the
        # import stops with an error, the two blocks before it stay, the
        # ledger verifies, and the same file imported again fills the rest
        size0 = led.json(d, "head")[0]["size"]
        lst = os.path.join(work, "l.csv")
        write_list(lst, 500)
        env = dict(os.environ, RISKGATE_LEDGER_FAIL_WRITE="3")
        p = subprocess.run([led.exe, "--dir", d, "import", lst, "--block", "2048",
                            "--no-progress"], env=env, capture_output=True, text=True)
        check(p.returncode == 1 and "injected failure" in p.stderr,
              f"failed write: rc {p.returncode} {p.stderr}")
        check(led.json(d, "head")[0]["size"] == size0 + 2 * 2048, "two blocks before the failure")
        check(led.json(d, "verify", ok=(0, 1))[0]["ok"], "verify after a failed write")
        r = led.json(d, "import", lst, "--block", "2048", "--no-progress", ok=(3,))[-1]
        check(r["bad"] == 2 * 2048 and r["size"] == size0 + LINES,
              f"import after the failure: {r}")

        # torn WAL tail: kill mid-import, then cut the newest WAL file
        write_list(os.path.join(work, "l.csv"), 999)
        p = subprocess.Popen([led.exe, "--dir", d, "import", os.path.join(work, "l.csv"),
                              "--block", "2048", "--no-progress"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.4)
        p.kill()
        p.wait()
        logs = sorted(glob.glob(os.path.join(d, "db", "*.log")), key=os.path.getmtime)
        if logs and os.path.getsize(logs[-1]) > 1000:
            with open(logs[-1], "r+b") as f:
                f.truncate(os.path.getsize(logs[-1]) - 777)
        v = led.json(d, "verify", ok=(0, 1))[0]
        check(v["ok"], f"verify after a torn WAL: {v}")
        print(f"{rounds} rounds, {nb_killed} kills, {len(acked)} acknowledged blocks, "
              f"final size {led.json(d, 'head')[0]['size']}")
    finally:
        shutil.rmtree(work)
    done()


if __name__ == "__main__":
    main()
