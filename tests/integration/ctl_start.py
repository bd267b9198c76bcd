#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""riskgated's start: the documented first run works, a failed start
removes what it created (and nothing else), and metrics beyond the
loopback need to be asked for.

usage: ctl_start.py BUILD_ROOT

On a ledger of its own, with the table and the segment in a directory of
its own on hugetlbfs (a temporary directory when there is none):
  1. `riskgated --ledger DIR --socket PATH` (metrics on a free loopback
     port, the events file at its default): it starts, having created
     /var/log/riskgate (0750) and hits.jsonl (0640) when they were missing
     (removed again at the end if so; left out when /var/log/riskgate was
     there already);
  2. a start that fails after the table is made (the metrics port is held
     by the test): exit 1, and the table, the socket, the event file and
     the three directories made for it are gone again;
  3. the same failure with a table, an event directory and a socket
     directory that were there before: all of them are still there;
  4. --metrics 0.0.0.0:P is refused (exit 2, naming --metrics-public),
     before anything is created; so is metrics = "0.0.0.0:P" in a file
     (FILE:LINE); metrics = "127.0.0.1:P" is not;
  5. with --metrics-public it starts, warns in the log, `status` shows
     the endpoint public with a warning, the metrics say so and answer.
Needs root (the default event directory, hugetlbfs); skips (77) otherwise.
"""
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ctl_util import Ctl, free_port, remove_work  # noqa: E402
from dp_util import build_arg_as_root, check, hugetlb_dir, result, stop  # noqa: E402
from ledger_util import Ledger  # noqa: E402

LOG_DIR = "/var/log/riskgate"


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


class Run:
    """riskgated with arguments, its log in the work directory."""

    def __init__(self, build, work, sock):
        self.riskgated = os.path.join(build, "control", "riskgated")
        self.ctl = Ctl(os.path.join(build, "control", "riskgate-ctl"), sock)
        self.log = open(os.path.join(work, "riskgated.log"), "a")
        self.proc = None

    def start(self, *args):
        self.proc = subprocess.Popen([self.riskgated] + list(args), stdout=self.log,
                                     stderr=self.log)
        self.ctl.wait_ready(20)

    def fail(self, *args):
        """(exit status, stderr) of a start expected to fail; (None, "") if
        it was still running after a minute (then stopped)."""
        try:
            p = subprocess.run([self.riskgated] + list(args), capture_output=True, text=True,
                               timeout=60)
        except subprocess.TimeoutExpired:
            return None, ""
        return p.returncode, p.stderr

    def stop(self):
        if self.proc is not None:
            stop(self.proc, timeout=30)
        self.proc = None

    def log_text(self):
        self.log.flush()
        with open(self.log.name) as f:
            return f.read()


class Setup:
    """The paths of the run."""

    def __init__(self, build):
        self.work = tempfile.mkdtemp(prefix="rg-start-")
        huge = hugetlb_dir()
        self.shm = (tempfile.mkdtemp(prefix="rg-start-", dir=huge) if huge
                    else os.path.join(self.work, "shm"))
        os.makedirs(self.shm, exist_ok=True)
        self.ldir = os.path.join(self.work, "ledger")
        self.sock = os.path.join(self.work, "ctl.sock")
        self.table = os.path.join(self.shm, "riskgate.table")
        self.seg = os.path.join(self.shm, "riskgate.seg")
        self.common = ["--ledger", self.ldir, "--table", self.table, "--segment", self.seg]
        self.r = Run(build, self.work, self.sock)
        # a port riskgated cannot listen on: its start fails after the table
        self.held = socket.socket()
        self.held.bind(("127.0.0.1", 0))
        self.held.listen(1)
        self.busy = f"127.0.0.1:{self.held.getsockname()[1]}"

    def clear(self, *paths):
        for p in paths:
            if os.path.lexists(p):
                os.unlink(p)


def first_run(t):
    """1. --ledger and --socket only (but for table, segment and metrics)."""
    r, made_log_dir = t.r, not os.path.exists(LOG_DIR)
    r.start("--ledger", t.ldir, "--socket", t.sock, "--table", t.table, "--segment", t.seg,
            "--metrics", f"127.0.0.1:{free_port()}")
    st = r.ctl.ok("status")
    check(st["member"] == "bank-a" and os.path.exists(t.table),
          "a first run with --ledger and --socket starts")
    if made_log_dir:
        events = os.path.join(LOG_DIR, "hits.jsonl")
        check(os.path.isdir(LOG_DIR) and mode(LOG_DIR) == 0o750 and mode(events) == 0o640,
              f"it made {LOG_DIR} (0750) and hits.jsonl (0640)")
    else:
        print(f"note: {LOG_DIR} was there already: its creation is left out")
    r.stop()


def failed_start(t):
    """2. a failed start removes what it made."""
    t.clear(t.table, t.seg)
    events = os.path.join(t.work, "logs", "a", "b", "hits.jsonl")
    sock2 = os.path.join(t.work, "run", "ctl.sock")
    rc, err = t.r.fail(*t.common, "--socket", sock2, "--events", events, "--metrics", t.busy)
    left = [p for p in (t.table, sock2, events, os.path.join(t.work, "logs"),
                        os.path.join(t.work, "run"), t.seg) if os.path.lexists(p)]
    check(rc == 1 and "metrics" in err and not left,
          f"a failed start: exit {rc}, nothing it made is left ({left}; {err.strip()[-200:]})")


def failed_start_keeps(t):
    """3. ... and nothing that was there before it."""
    old = os.path.join(t.work, "old", "hits.jsonl")
    sock2 = os.path.join(t.work, "run", "ctl.sock")
    t.clear(t.table, t.seg)
    t.r.start(*t.common, "--socket", t.sock, "--events", old, "--metrics", "")
    t.r.stop()
    os.makedirs(os.path.join(t.work, "run"), exist_ok=True)
    rc, _ = t.r.fail(*t.common, "--socket", sock2, "--events", old, "--metrics", t.busy)
    kept = [p for p in (t.table, old, os.path.join(t.work, "run")) if os.path.lexists(p)]
    check(rc == 1 and len(kept) == 3 and not os.path.lexists(sock2),
          f"a failed start keeps what was there before ({kept}), removes its socket")


def metrics_public(t):
    """4. and 5. metrics beyond the loopback."""
    r, port = t.r, free_port()
    t.clear(t.table, t.seg)
    rc, err = r.fail(*t.common, "--socket", t.sock, "--events", "", "--metrics",
                     f"0.0.0.0:{port}")
    check(rc == 2 and "--metrics-public" in err and not os.path.exists(t.table),
          f"--metrics 0.0.0.0:P refused before anything is made (exit {rc}: {err.strip()})")
    cfg = os.path.join(t.work, "riskgated.cfg")
    text = (f'ledger = "{t.ldir}";\nsocket = "{t.sock}";\ntable = "{t.table}";\n'
            f'segment = "{t.seg}";\nevents = "";\n')
    with open(cfg, "w") as f:
        f.write(text + f'metrics = "0.0.0.0:{port}";\n')
    rc, err = r.fail("--config", cfg)
    check(rc == 2 and "riskgated.cfg:6: metrics:" in err and "metrics_public" in err,
          f"metrics = \"0.0.0.0:P\" refused with file and line (exit {rc}: {err.strip()})")
    with open(cfg, "w") as f:
        f.write(text + f'metrics = "127.0.0.1:{port}";\n')
    r.start("--config", cfg)
    st = r.ctl.ok("status")
    check(not st["metrics"]["public"] and all("metrics" not in w for w in st["warnings"]),
          f"the loopback is not public, no warning ({st.get('metrics')})")
    r.stop()

    r.start(*t.common, "--socket", t.sock, "--events", "", "--metrics", f"0.0.0.0:{port}",
            "--metrics-public")
    st = r.ctl.ok("status")
    check(st["metrics"] == {"listen": f"0.0.0.0:{port}", "serving": True, "public": True} and
          any("beyond this host" in w for w in st["warnings"]),
          f"status: public, with a warning ({st.get('metrics')}, {st.get('warnings')})")
    check("served beyond this host" in r.log_text(), "a warning in the log at start")
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as m:
        check("riskgate_metrics_public 1" in m.read().decode(),
              "the metrics say they are public")
    r.stop()


def main():
    build = build_arg_as_root(__doc__)
    made_log_dir = not os.path.exists(LOG_DIR)
    events_default = os.path.join(LOG_DIR, "hits.jsonl")
    made_events = not os.path.exists(events_default)
    t = Setup(build)
    try:
        Ledger(os.path.join(build, "ledger", "riskgate-ledger")).run(t.ldir, "init",
                                                                      "--member", "bank-a")
        for step in (first_run, failed_start, failed_start_keeps, metrics_public):
            try:
                step(t)
            except (RuntimeError, OSError, ValueError, KeyError, TypeError) as e:
                check(False, f"{step.__name__}: {type(e).__name__}: {e}")
                t.r.stop()
    finally:
        t.r.stop()
        t.held.close()
        if made_log_dir:
            shutil.rmtree(LOG_DIR, ignore_errors=True)
        elif made_events and os.path.exists(events_default):
            os.unlink(events_default)
        shutil.rmtree(t.shm, ignore_errors=True)
        remove_work(t.work, t.r.log)
    return result()


if __name__ == "__main__":
    sys.exit(main())
