# SPDX-License-Identifier: BSD-3-Clause
"""Helpers shared by the ledger integration tests: run riskgate-ledger,
make member directories with a shared genesis and fingerprint key."""
import json
import os
import shutil
import subprocess
import sys
import tempfile


class Ledger:
    def __init__(self, exe):
        self.exe = exe

    def run(self, d, *args, ok=(0,), stdin=None):
        cmd = [self.exe] + (["--dir", d] if d else []) + [str(a) for a in args]
        p = subprocess.run(cmd, capture_output=True, text=True, input=stdin, timeout=300)
        if p.returncode not in ok:
            sys.stderr.write(f"command {cmd} exited {p.returncode}\nstdout: {p.stdout}\n"
                             f"stderr: {p.stderr}\n")
            raise SystemExit(1)
        return p

    def json(self, d, *args, ok=(0,)):
        p = self.run(d, *args, ok=ok)
        return [json.loads(x) for x in p.stdout.splitlines() if x.startswith("{")]

    def consortium(self, work, names, name="test"):
        """Member dirs work/NAME, one fp.key, one genesis listing them all."""
        dirs = []
        for i, n in enumerate(names):
            d = os.path.join(work, n)
            extra = ["--fp-key", os.path.join(dirs[0], "fp.key")] if dirs else []
            self.run(d, "init", "--member", n, *extra)
            dirs.append(d)
        self.run(None, "genesis", "--out", os.path.join(work, "genesis.json"),
                 "--consortium", name, "--install", *dirs)
        return dirs


def merchant_csv(path, prefix, n):
    """A list file of n MERCHANT entries prefix0 .. on marketing_cheat."""
    with open(path, "w") as f:
        f.write("list,kind,value\n")
        f.writelines(f"marketing_cheat,MERCHANT,{prefix}{i}\n" for i in range(n))
    return path


failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        sys.stderr.write(f"FAIL: {what}\n")


def done():
    if failures:
        sys.stderr.write(f"{len(failures)} check(s) failed\n")
        sys.exit(1)
    print("all checks passed")
    sys.exit(0)


def main_in_tmp(prefix, run):
    """run(led, work): led runs the riskgate-ledger named by argv[1], work
    is a new directory, removed afterwards; then exit as done() does."""
    led = Ledger(sys.argv[1])
    work = tempfile.mkdtemp(prefix=prefix)
    try:
        run(led, work)
    finally:
        shutil.rmtree(work)
    done()
