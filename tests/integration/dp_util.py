# SPDX-License-Identifier: BSD-3-Clause
"""Helpers shared by the riskgate-dp integration tests: classic pcap
reading and writing, hand-built Ethernet/IP/TCP frames, running the
generator, the table fixture and riskgate-dp, the arguments and report of
the replay tests; for the live tests (real processes, also riskgated's):
checks, huge pages, DPDK telemetry, waiting for and stopping processes,
and the topology of scripts/topology.sh."""

import collections
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time


def read_pcap(path):
    """Packet bytes of a classic pcap file, in order."""
    with open(path, "rb") as fp:
        data = fp.read()
    if len(data) < 24:
        return []
    magic = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic in (0xa1b2c3d4, 0xa1b23c4d) else ">"
    off, out = 24, []
    while off + 16 <= len(data):
        _, _, incl, _ = struct.unpack(endian + "IIII", data[off:off + 16])
        out.append(data[off + 16:off + 16 + incl])
        off += 16 + incl
    return out


def write_pcap(path, frames):
    with open(path, "wb") as fp:
        fp.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
        for i, f in enumerate(frames):
            fp.write(struct.pack("<IIII", 1700000000 + i // 1000, (i % 1000) * 1000,
                                 len(f), len(f)))
            fp.write(f)


MAC = bytes.fromhex("020000000001") + bytes.fromhex("020000000002")


def tcp_frame(src, dst, sport, dport, seq, flags, payload=b"", ack=0, vlan=None):
    """Ethernet + IPv4 + TCP (checksums left zero: nothing on the path checks them)."""
    tcp = struct.pack(">HHIIBBHHH", sport, dport, seq & 0xffffffff, ack, 5 << 4, flags,
                      65535, 0, 0) + payload
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 1, 0x4000, 64, 6, 0,
                     bytes(map(int, src.split("."))), bytes(map(int, dst.split(".")))) + tcp
    eth = MAC
    if vlan is not None:
        eth += struct.pack(">HH", 0x8100, vlan)
    return eth + struct.pack(">H", 0x0800) + ip


FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def summary(proc):
    """The JSON summary line of a replay (last non-empty stdout line)."""
    lines = [l for l in proc.stdout.splitlines() if l.strip().startswith("{")]
    return json.loads(lines[-1]) if lines else None


def replay(dp, args, timeout=120):
    """riskgate-dp -- ARGS, a replay: its JSON summary and no error, or None
    and what went wrong."""
    r = run([dp, "--"] + args, timeout=timeout)
    if r.returncode != 0:
        return None, ["riskgate-dp failed (%d): %s" % (r.returncode, r.stderr.strip()[-400:])]
    s = summary(r)
    if s is None:
        return None, ["no JSON summary on stdout"]
    return s, []


def key_of(d):
    """A hit as the ground truth and the hit events both give it."""
    return (d["flow"], d["dir"], d["mti"], d["stan"], d["list"], d["kind"], int(d["de"]),
            d["masked"])


def compare_events(want, events):
    """The hit events file of a replay against want (a Counter of key_of):
    a raw PAN in an event, the first missed and false hits, their counts."""
    errors = []
    got = collections.Counter()
    with open(events) as fp:
        for line in fp:
            e = json.loads(line)
            if e["kind"] == "PAN" and "*" not in e["masked"]:
                errors.append("raw PAN in an event")
            got[key_of(e)] += 1
    missed, false = want - got, got - want
    for k in list(missed)[:3]:
        errors.append("missed hit %s" % (k,))
    for k in list(false)[:3]:
        errors.append("false hit %s" % (k,))
    if missed or false:
        errors.append("%d missed, %d false of %d" % (sum(missed.values()), sum(false.values()),
                                                      sum(want.values())))
    return errors


def make_table(lists_table, tmp, csvs, name="table"):
    key = os.path.join(tmp, "fp.key")
    if not os.path.exists(key):
        r = run([lists_table, "genkey", key])
        if r.returncode != 0:
            raise RuntimeError("genkey: " + r.stderr)
    table = os.path.join(tmp, name)
    r = run([lists_table, "build", "--key", key, "--out", table] + list(csvs))
    if r.returncode != 0:
        raise RuntimeError("build table: " + r.stderr)
    return key, table


# ---- the replay tests: arguments and report ----

def tool_args(doc):
    """riskgate-dp, riskgate-gen and lists_table from the command line; the
    usage (doc) and exit status 1 otherwise."""
    if len(sys.argv) != 4:
        print(doc, file=sys.stderr)
        sys.exit(1)
    return sys.argv[1:4]


def report(name, errors):
    """A case's line, ok or FAIL, and its errors under it; 1 if it failed."""
    print("%-4s %s" % ("ok" if not errors else "FAIL", name))
    for e in errors:
        print("     " + e)
    return 1 if errors else 0


def finish(nb_failed, t0):
    """The closing line (cases failed, seconds since t0); the exit status."""
    print("%d failed, %.1f s" % (nb_failed, time.time() - t0))
    return 1 if nb_failed else 0


# ---- the live tests ----

SKIP = 77  # meson: test skipped
failures = []


def check(cond, what):
    """Print a check that holds; record one that does not and carry on."""
    if not cond:
        failures.append(what)
        sys.stderr.write(f"FAIL: {what}\n")
    else:
        print(f"ok: {what}")
    return cond


def skip(why):
    print(f"SKIP: {why}")
    sys.exit(SKIP)


def build_arg_as_root(doc):
    """The one argument of a live test that needs root (BUILD_ROOT or a
    program): the usage (doc) and exit status 2 without it; skips (77)
    unless root."""
    if len(sys.argv) != 2:
        sys.stderr.write(doc)
        sys.exit(2)
    if os.geteuid() != 0:
        skip("needs root")
    return sys.argv[1]


def result():
    """The exit status of a live test: 1 if a check failed."""
    if failures:
        print(f"{len(failures)} check(s) failed")
        return 1
    print("ok")
    return 0


def hugetlb_dir():
    """A hugetlbfs mount this process may write to, or None."""
    try:
        with open("/proc/mounts") as f:
            for line in f:
                p = line.split()
                if p[2] == "hugetlbfs" and os.access(p[1], os.W_OK):
                    return p[1]
    except OSError:
        pass
    return None


def telemetry(sock, cmd, timeout=2):
    """One command over the DPDK telemetry socket sock; its JSON value, or
    None.  A command with a parameter ("/ethdev/xstats,0") is answered
    under its name without it."""
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        s.settimeout(timeout)
        s.connect(sock)
        s.recv(16384)  # greeting
        s.send(cmd.encode())
        reply = json.loads(s.recv(1 << 20).decode())
        s.close()
        return reply.get(cmd.split(",")[0])
    except (OSError, ValueError):
        return None


def wait_for(fn, secs, step=0.05):
    """fn() polled every step s until it is true (returned) or secs pass (None)."""
    end = time.time() + secs
    while time.time() < end:
        v = fn()
        if v:
            return v
        time.sleep(step)
    return None


def wait_listen(ns, port, secs=5):
    """Whether something listens on TCP port in network namespace ns within secs."""
    def listening():
        p = subprocess.run(["ip", "netns", "exec", ns, "ss", "-Hltn", f"sport = :{port}"],
                           capture_output=True, text=True)
        return bool(p.stdout.strip())
    return bool(wait_for(listening, secs, 0.1))


def stop(proc, timeout=10):
    """SIGTERM to proc if it runs, SIGKILL if it has not exited after
    timeout s; its exit status."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def remove_files(paths):
    for path in paths:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def hits_by_list(stats):
    """/riskgate/stats' hits_LIST counters by list name."""
    return {k[len("hits_"):]: v for k, v in stats.items()
            if k.startswith("hits_") and isinstance(v, int)}


def build_table(build, work, lists, key, table):
    """The table file from the list file: the fixture, else the ledger."""
    fixture = os.path.join(build, "tests", "integration", "lists_table")
    ledger = os.path.join(build, "ledger", "riskgate-ledger")
    if os.access(fixture, os.X_OK):
        subprocess.run([fixture, "build", "--key", key, "--out", table, lists],
                       check=True, capture_output=True, timeout=60)
        return "lists_table"
    if os.access(ledger, os.X_OK):
        d = os.path.join(work, "ledger")
        for args in (["init", "--member", "bank-a", "--fp-key", key],
                     ["import", lists],
                     ["table", "--out", table]):
            p = subprocess.run([ledger, "--dir", d] + args, capture_output=True,
                               text=True, timeout=120)
            if p.returncode not in (0, 3):  # 3: some lines skipped
                raise RuntimeError(f"riskgate-ledger {args[0]}: {p.stderr.strip()}")
        return "riskgate-ledger"
    skip("neither tests/integration/lists_table nor riskgate-ledger is built")


class Topology:
    """scripts/topology.sh for one test: rgacq (10.99.0.1) <-> riskgate-dp
    (af_packet vdevs) <-> rgsw (10.99.0.2), riskgate-switch listening in
    rgsw, riskgate-acq sending from rgacq; a work directory, and a table and
    a segment in hugetlbfs named after the test (tag) and pid.  Made only
    with root, huge pages, a built riskgate-dp and the tools (skips, 77,
    otherwise); close() takes down and removes everything it made."""

    PORT = 5000
    SWITCH = "10.99.0.2"
    SEED = 11
    PREFIX = "rgtopo"  # the DPDK --file-prefix topology.sh gives riskgate-dp
    NAMESPACES = ("rgacq", "rgsw")
    TELEMETRY = f"/var/run/dpdk/{PREFIX}/dpdk_telemetry.v2"

    def __init__(self, build, topo, acq, switch, tag):
        if os.geteuid() != 0:
            skip("needs root (network namespaces, DPDK)")
        self.dp = os.path.join(build, "dataplane", "riskgate-dp")
        if not os.access(self.dp, os.X_OK):
            skip(f"riskgate-dp is not built ({self.dp})")
        self.huge = hugetlb_dir()
        if self.huge is None:
            skip("no writable hugetlbfs mount (scripts/hugepages.sh)")
        for tool in ("ip", "ethtool", "ss"):
            if shutil.which(tool) is None:
                skip(f"{tool} not installed")
        self.build, self.topo, self.acq, self.switch = build, topo, acq, switch
        self.work = tempfile.mkdtemp(prefix=f"rg-{tag}-")
        name = f"rg{tag}-{os.getpid()}"
        self.table = os.path.join(self.huge, f"{name}.table")
        self.seg = os.path.join(self.huge, f"{name}.seg")
        self.key = os.path.join(self.work, "fp.key")
        self.run_dir = os.path.join(self.work, "run")
        self.env = dict(os.environ, RG_TOPO_RUN=self.run_dir)
        self.sw = None
        self.sh("down")

    def sh(self, *args, **kw):
        """topology.sh with args."""
        return subprocess.run([self.topo] + list(args), env=self.env, capture_output=True,
                              text=True, **kw)

    def telemetry(self, cmd):
        return telemetry(self.TELEMETRY, cmd)

    def wait_telemetry(self, cmd, secs=10):
        """The first answer to cmd within secs, or None."""
        return wait_for(lambda: self.telemetry(cmd), secs, 0.2)

    def make_table(self):
        """A new fingerprint key, the acquirer's list file (300 per list)
        and the table built from it."""
        lists = os.path.join(self.work, "lists.csv")
        with open(os.open(self.key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
            f.write("riskgate-fp-key 1\nepoch 1\nkey %s\n" % os.urandom(16).hex())
        subprocess.run([self.acq, "--lists-only", "--lists", lists, "--seed", str(self.SEED),
                        "--list-size", "300"], check=True, timeout=60)
        how = build_table(self.build, self.work, lists, self.key, self.table)
        print(f"table {self.table}: {os.stat(self.table).st_size} bytes ({how})")

    def up(self, cfg_extra="", args=()):
        """The namespaces and riskgate-dp on the table and segment (cfg_extra:
        more lines of its configuration; args: more for topology.sh up)."""
        cfg = os.path.join(self.work, "dp.cfg")
        with open(cfg, "w") as f:
            f.write('ports = ( { a = "net_af_packet0"; b = "net_af_packet1"; } );\n' + cfg_extra +
                    f'services = ( {{ port = {self.PORT}; dialect = "ascii87"; '
                    'framing = "len2"; } );\n'
                    f'table = "{self.table}";\nsegment = "{self.seg}";\nkey = "{self.key}";\n')
        p = self.sh("up", "--bridge", "dp", "--dp", self.dp, "--config", cfg, *args, timeout=60)
        if p.returncode != 0:
            raise RuntimeError(f"topology up failed:\n{p.stderr}")

    def start_switch(self):
        self.sw = subprocess.Popen(["ip", "netns", "exec", "rgsw", self.switch, "--listen",
                                    f"{self.SWITCH}:{self.PORT}", "--json"],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if not wait_listen("rgsw", self.PORT):
            raise RuntimeError("riskgate-switch is not listening")

    def run_acq(self, args, background=False):
        """riskgate-acq from rgacq to the switch: its JSON summary, or the
        process when run in the background."""
        cmd = ["ip", "netns", "exec", "rgacq", self.acq, "--connect",
               f"{self.SWITCH}:{self.PORT}", "--seed", str(self.SEED), "--json",
               "--no-progress"] + args
        if background:
            return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True)
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            raise RuntimeError(f"riskgate-acq exited {p.returncode}: {p.stderr.strip()}")
        return json.loads(p.stdout.strip().splitlines()[-1])

    def close(self):
        """The switch stopped (its summary printed), the topology down, the
        table, segment and work directory removed."""
        if self.sw is not None:
            self.sw.send_signal(signal.SIGTERM)
            try:
                out, _ = self.sw.communicate(timeout=5)
                print("switch:", out.strip())
            except subprocess.TimeoutExpired:
                self.sw.kill()
                self.sw.wait()
        p = self.sh("down")
        if p.returncode != 0:
            sys.stderr.write(p.stderr)
        remove_files((self.table, self.seg))
        shutil.rmtree(self.work, ignore_errors=True)
