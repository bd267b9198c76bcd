# SPDX-License-Identifier: BSD-3-Clause
"""Helpers shared by the control plane's integration tests: riskgate-ctl
as a client, riskgated started and awaited, the programs a live test needs
built, and what stays of a run (riskgated's log on failure)."""
import json
import os
import shutil
import socket
import subprocess
import sys

from dp_util import failures, hugetlb_dir, skip, wait_for


class Ctl:
    def __init__(self, path, sock):
        self.path, self.sock = path, sock

    def run(self, *args, user=None, timeout=30):
        cmd = [self.path, "--socket", self.sock, "--json"] + list(args)
        if user is not None:
            cmd = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups"] + cmd
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        out = None
        for line in p.stdout.splitlines():
            try:
                out = json.loads(line)
            except ValueError:
                pass
        return p.returncode, out, p.stderr

    def ok(self, *args):
        rc, out, err = self.run(*args)
        if rc != 0:
            raise RuntimeError(f"riskgate-ctl {' '.join(args)}: exit {rc}: {err.strip()}")
        return out

    def hits(self, n=5000):
        """Recent hit events: `hits --json` prints one object per line."""
        p = subprocess.run([self.path, "--socket", self.sock, "--json", "hits", "-n", str(n)],
                           capture_output=True, text=True, timeout=30)
        if p.returncode != 0:
            return []
        return [json.loads(l) for l in p.stdout.splitlines() if l.strip()]

    def wait_ready(self, secs=10, what="come up"):
        """Until riskgated answers `status`; RuntimeError "riskgated did
        not WHAT" after secs."""
        if not wait_for(lambda: self.run("status")[0] == 0, secs):
            raise RuntimeError(f"riskgated did not {what}")


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_daemon(riskgated, cfg, log):
    return subprocess.Popen([riskgated, "--config", cfg], stdout=log, stderr=log)


def live_programs(build):
    """riskgate-dp, riskgated, riskgate-ctl, riskgate-ledger of build and a
    writable hugetlbfs mount; skips (77) without root or any of them."""
    if os.geteuid() != 0:
        skip("needs root")
    progs = [os.path.join(build, "dataplane", "riskgate-dp"),
             os.path.join(build, "control", "riskgated"),
             os.path.join(build, "control", "riskgate-ctl"),
             os.path.join(build, "ledger", "riskgate-ledger")]
    for b in progs:
        if not os.access(b, os.X_OK):
            skip(f"{b} not built")
    huge = hugetlb_dir()
    if huge is None:
        skip("no writable hugetlbfs")
    return progs + [huge]


def remove_work(work, log):
    """riskgated's log closed (its tail on stderr when a check failed) and
    the work directory removed."""
    log.close()
    if failures:
        with open(log.name) as f:
            sys.stderr.write(f.read()[-3000:])
    shutil.rmtree(work, ignore_errors=True)
