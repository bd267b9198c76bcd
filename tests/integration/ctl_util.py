# SPDX-License-Identifier: BSD-3-Clause
"""Helpers shared by the control plane's integration tests: riskgate-ctl
as a client, a raw protocol connection, riskgated started and awaited (also
on a ledger and configuration of its own, or as one member of a consortium
syncing with others), peers run as another user (nobody, groups made for
the test), the programs a live test needs built, and what stays of a run
(riskgated's log on failure)."""
import grp
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import urllib.request

from dp_util import check, failures, hugetlb_dir, skip, stop, wait_for
from ledger_util import Ledger

# A peer of the control socket run as another user (ctl_peer.py).
PEER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ctl_peer.py")
NOBODY = 65534


class Ctl:
    def __init__(self, path, sock):
        self.path, self.sock = path, sock

    def run(self, *args, user=None, groups=(), timeout=30):
        """riskgate-ctl --json ARGS, as uid user (primary group of the same
        number) with the supplementary groups given: (exit status, the last
        JSON line of stdout or None, stderr)."""
        cmd = [self.path, "--socket", self.sock, "--json"] + list(args)
        if user is not None:
            cmd = ["setpriv", f"--reuid={user}", f"--regid={user}", groups_arg(groups)] + cmd
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


def groups_arg(groups):
    """setpriv's option for exactly these supplementary groups."""
    return "--groups=" + ",".join(str(g) for g in groups) if groups else "--clear-groups"


class Conn:
    """One raw protocol connection."""

    def __init__(self, sock, timeout=60):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.s.connect(sock)
        self.buf = b""

    def send(self, *objs):
        self.s.sendall(b"".join(json.dumps(o).encode() + b"\n" for o in objs))

    def send_raw(self, data):
        self.s.sendall(data)

    def line(self):
        """The next line as JSON; None once the daemon closed the connection."""
        while b"\n" not in self.buf:
            try:
                x = self.s.recv(65536)
            except ConnectionResetError:
                x = b""
            if not x:
                return None
            self.buf += x
        ln, self.buf = self.buf.split(b"\n", 1)
        return json.loads(ln)

    def close(self):
        try:
            self.s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.s.close()


def metrics(port):
    """The samples of riskgated's /metrics on 127.0.0.1:port, by name with
    labels, values as text."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        return dict(l.rsplit(" ", 1) for l in r.read().decode().splitlines()
                    if l and not l.startswith("#"))


class TempGroup:
    """A system group made for the test (groupadd) and removed after it."""

    def __init__(self, tag):
        self.name = f"rgt{tag}{os.getpid()}"[:32]
        subprocess.run(["groupadd", self.name], check=True, capture_output=True)
        self.gid = grp.getgrnam(self.name).gr_gid

    def remove(self):
        subprocess.run(["groupdel", self.name], capture_output=True)


def peer(*args, groups=(), setgid=False):
    """ctl_peer.py ARGS as nobody (primary group nogroup, exactly the
    supplementary groups given; with setgid, allowed to change them), with
    pipes for stdin and stdout."""
    cmd = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", groups_arg(groups)]
    if setgid:
        cmd += ["--inh-caps=+setgid", "--ambient-caps=+setgid"]
    return subprocess.Popen(cmd + ["/usr/bin/python3", PEER] + [str(a) for a in args],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def loopback_accepts(port, secs=5):
    """Whether something accepts TCP connections on 127.0.0.1:port within secs."""
    def accepts():
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            return False
    return bool(wait_for(accepts, secs))


def daemon_settings(work, ldir, sock, **settings):
    """riskgated's settings for a daemon of a test: ledger ldir, socket sock,
    segment, table and events (hits.jsonl) in work, no metrics, no
    staleness alarm; then settings."""
    base = {"ledger": ldir, "socket": sock,
            "segment": os.path.join(work, "riskgate.seg"),
            "table": os.path.join(work, "riskgate.table"), "table_capacity": 65536,
            "events": os.path.join(work, "hits.jsonl"), "metrics": "", "stale_after_sec": 0}
    base.update(settings)
    return base


def config_text(settings):
    """libconfig text of settings: strings quoted, booleans as true/false."""
    out = []
    for k, v in settings.items():
        if isinstance(v, bool):
            out.append(f"{k} = {'true' if v else 'false'};")
        elif isinstance(v, int):
            out.append(f"{k} = {v};")
        else:
            out.append(f'{k} = "{v}";')
    return "\n".join(out) + "\n"


class Daemon:
    """riskgated on a one-member ledger (bank-a) of its own in a new
    temporary directory, mode 0755 so that other users reach the socket
    (group nogroup, so nobody may open it); table, segment and events in
    that directory, metrics off, staleness off, unless settings say
    otherwise.  The groups given (TempGroup) are removed with it.  Needs
    root (setpriv, groupadd) and the programs of build."""

    def __init__(self, build, tag, groups=(), **settings):
        self.groups = list(groups)
        self.riskgated = os.path.join(build, "control", "riskgated")
        self.ctl = Ctl(os.path.join(build, "control", "riskgate-ctl"), None)
        self.work = tempfile.mkdtemp(prefix=f"rg-{tag}-")
        os.chmod(self.work, 0o755)
        self.ldir = os.path.join(self.work, "ledger")
        self.ctl.sock = self.sock = os.path.join(self.work, "ctl.sock")
        self.events = os.path.join(self.work, "hits.jsonl")
        self.cfg = os.path.join(self.work, "riskgated.cfg")
        self.log = open(os.path.join(self.work, "riskgated.log"), "a")
        self.proc = None
        Ledger(os.path.join(build, "ledger", "riskgate-ledger")).run(
            self.ldir, "init", "--member", "bank-a")
        self.configure(**settings)

    def configure(self, **settings):
        """Write the configuration file: the defaults above, then settings."""
        with open(self.cfg, "w") as f:
            f.write(config_text(daemon_settings(self.work, self.ldir, self.sock,
                                                socket_group="nogroup", **settings)))

    def start(self):
        self.proc = start_daemon(self.riskgated, self.cfg, self.log)
        self.ctl.wait_ready(20)

    def log_text(self):
        self.log.flush()
        with open(self.log.name) as f:
            return f.read()

    def close(self):
        if self.proc is not None:
            stop(self.proc, timeout=30)
        remove_work(self.work, self.log)
        for g in self.groups:
            g.remove()


class Member:
    """One member of a consortium with its riskgated, run as the caller:
    ledger WORK/NAME/ledger (the caller makes it), control socket,
    configuration, table, segment, events and log in WORK/NAME; it serves
    the logs it holds on 127.0.0.1:port (sync_listen)."""

    def __init__(self, build, work, name, port):
        self.riskgated = os.path.join(build, "control", "riskgated")
        self.name, self.port = name, port
        self.dir = os.path.join(work, name)
        os.makedirs(self.dir)
        self.ldir = os.path.join(self.dir, "ledger")
        self.sock = os.path.join(self.dir, "ctl.sock")
        self.cfg = os.path.join(self.dir, "riskgated.cfg")
        self.ctl = Ctl(os.path.join(build, "control", "riskgate-ctl"), self.sock)
        self.proc = None
        self.log = None

    def configure(self, peers, **settings):
        """The configuration file: fetching from peers ({member: port} on
        127.0.0.1), the caller's group as admin group, then settings."""
        admin = grp.getgrgid(os.getgid()).gr_name
        text = config_text(daemon_settings(self.dir, self.ldir, self.sock, socket_group="",
                                           admin_group=admin,
                                           sync_listen=f"127.0.0.1:{self.port}", **settings))
        urls = ", ".join(f'{{ member = "{p}"; url = "https://127.0.0.1:{port}"; }}'
                         for p, port in peers.items())
        with open(self.cfg, "w") as f:
            f.write(text + (f"peers = ( {urls} );\n" if peers else ""))

    def start(self):
        self.log = open(os.path.join(self.dir, "riskgated.log"), "a")
        self.proc = start_daemon(self.riskgated, self.cfg, self.log)
        self.ctl.wait_ready(20)

    def kill(self):
        self.proc.kill()
        self.proc.wait()
        self.proc = None

    def stop(self):
        if self.proc is not None:
            self.proc.terminate()
            try:
                rc = self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                rc = self.proc.wait()
            # a sanitizer's report (a leak, a bad access) makes the exit non-zero
            check(rc == 0, f"{self.name}'s riskgated exited {rc} when stopped")
            self.proc = None
        if self.log is not None:
            self.log.close()
            self.log = None

    def head(self, member):
        """member's log as this daemon's `ledger head` shows it, or None."""
        for h in self.ctl.ok("ledger", "head")["heads"]:
            if h["member"] == member:
                return h
        return None

    def log_text(self):
        """Everything its riskgated wrote to its log."""
        if self.log is not None:
            self.log.flush()
        with open(os.path.join(self.dir, "riskgated.log")) as f:
            return f.read()

    def log_tail(self):
        return self.log_text()[-3000:]


def main_in_work(prefix, run):
    """run(work) in a new temporary directory, removed afterwards; then
    exit 1 when a check failed, else print that all passed."""
    work = tempfile.mkdtemp(prefix=prefix)
    try:
        run(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if failures:
        sys.stderr.write(f"{len(failures)} check(s) failed\n")
        sys.exit(1)
    print("all checks passed")


def own_config(path, work, ldir, sock, table_capacity=65536):
    """riskgated's config at path for a daemon run as the caller
    (daemon_settings), the caller's own group as admin group (no root
    needed)."""
    admin = grp.getgrgid(os.getgid()).gr_name
    with open(path, "w") as f:
        f.write(config_text(daemon_settings(work, ldir, sock, socket_group="",
                                            admin_group=admin,
                                            table_capacity=table_capacity)))


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
